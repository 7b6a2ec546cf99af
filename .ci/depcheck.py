#!/usr/bin/env python3
"""Keeps the architecture: no stage crate depends on another stage crate.

Shared crates (core, model, the MLflow client) sit at the bottom and depend on no stage; only the pipeline runner and
the CLI may see every stage. Reads `cargo metadata`; exits 1 and names every violation.
"""
import json
import subprocess
import sys

SHARED = {"leadscore-core", "leadscore-model", "leadscore-mlflow"}
WIRING = {"leadscore-pipeline", "leadscore-cli", "leadscore"}

meta = json.loads(subprocess.check_output(["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"]))
crates = {p["name"]: p for p in meta["packages"] if p["name"].startswith("leadscore")}
stages = {n for n in crates if n not in SHARED | WIRING}
bad = []
for name, pkg in sorted(crates.items()):
    deps = {d["name"] for d in pkg["dependencies"] if d["kind"] in (None, "normal")}
    if name in stages:
        for d in sorted(deps & stages):
            bad.append(f"stage crate {name} depends on stage crate {d}: move the shared types down into core or model")
    if name in SHARED:
        for d in sorted(deps & (stages | WIRING)):
            bad.append(f"shared crate {name} depends on {d}: shared crates must not know the stages")
for b in bad:
    print(b, file=sys.stderr)
print(f"depcheck: {len(crates)} crates, stage crates {sorted(stages)}: {'FAILED' if bad else 'ok'}")
sys.exit(1 if bad else 0)
