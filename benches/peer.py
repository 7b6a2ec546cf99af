#!/usr/bin/env python3
"""leadscore against the peers (polars + LightGBM, and pandas + scikit-learn + LightGBM) on identical files.

Usage:
    python3 benches/peer.py --leads 1000000 [--extra-attributes 38] [--dir DIR] [--seed 1]
                            [--bin target/release/leadscore] [--peer PEER.py ...] [--runs 3]

Generates a Salesforce-shaped synthetic export (12 months) in DIR (default
target/peer-bench/<leads>; reused when it is already there), then runs, one after the other and
each under /usr/bin/time -v:

1. `leadscore run --config DIR/leadscore.toml` from scratch (runs/ and models/ removed first):
   the whole DAG, ingest to export, with a retrain;
2. each peer on the same Lead.csv and Opportunity.csv, with a meta.json giving the same target
   (Closed Won, New Business), window, training date and evaluation range: the leadscore
   champion's out-of-time validation leads. By default the expert peer (../shared/peer/expert.py:
   polars, LightGBM on native categoricals), which the targets refer to, then the reference peer
   (../shared/peer/reference.py: pandas, a dense one-hot matrix); `--peer` (repeatable) names
   others.

Both are run `--runs` times (default 3), alternating (leadscore, then each peer, then again), so
that a slow spell of a shared machine falls on both sides; the medians are reported, and every
run's figures are kept in the JSON. Prints a table (median wall seconds, median peak memory,
out-of-time AUC of each, and the AUC of the synthetic truth on the same leads) and the ratios
against each peer, and writes DIR/peer-bench.json. Needs
polars, pandas, pyarrow, scikit-learn and lightgbm, and a release build (`cargo build --release`).
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from accuracy import evaluate, peer_meta  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, cwd=None, may_fail=False):
    """Runs cmd under /usr/bin/time -v; returns (stdout, wall seconds, peak RSS in MiB, failure).

    failure is None on success. With may_fail, a failed run (the peer killed for want of memory,
    say) is returned as a failure text instead of ending the benchmark."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    peak = int(m.group(1)) / 1024 if m else float("nan")
    failure = None
    if p.returncode != 0:
        signal = re.search(r"Command terminated by signal (\d+)", p.stderr)
        failure = (f"killed by signal {signal.group(1)}" + (" (out of memory?)" if signal.group(1) == "9" else "")
                   if signal else f"exited with {p.returncode}")
        if not may_fail:
            sys.stderr.write(p.stderr[-5000:])
            raise SystemExit(f"{' '.join(cmd)}: {failure}")
        sys.stderr.write(f"{' '.join(cmd)}: {failure} after {wall:.1f} s at {peak:.0f} MiB\n")
    return p.stdout, wall, peak, failure


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--extra-attributes", type=int, default=38)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "leadscore"))
    ap.add_argument("--peer", action="append",
                    help="a peer script (repeatable); default: the expert peer, then the reference peer")
    ap.add_argument("--runs", type=int, default=3, help="runs of each side, alternating; medians are reported")
    a = ap.parse_args()
    if a.runs < 1:
        raise SystemExit("--runs must be at least 1")
    peers = a.peer or [os.path.join(ROOT, "..", "shared", "peer", name) for name in ("expert.py", "reference.py")]
    d = os.path.abspath(a.dir or os.path.join(ROOT, "target", "peer-bench", str(a.leads)))
    if not os.path.exists(a.bin):
        raise SystemExit(f"{a.bin} not found: run `cargo build --release` first")
    if not os.path.exists(os.path.join(d, "Lead.csv")):
        subprocess.run([a.bin, "synth", "--out", d, "--leads", str(a.leads), "--months", "12", "--seed", str(a.seed),
                        "--shape", "salesforce", "--extra-attributes", str(a.extra_attributes)],
                       check=True, capture_output=True)
    ls_runs, peer_runs = [], {script: [] for script in peers}
    for _ in range(a.runs):
        # From scratch each time: the whole DAG with a retrain.
        for sub in ("runs", "models"):
            shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
        _, wall, peak, _ = timed([a.bin, "run", "--config", os.path.join(d, "leadscore.toml")])
        ls_runs.append((wall, peak))
        ours = evaluate(d)
        meta = peer_meta(d)
        json.dump(meta, open(os.path.join(d, "meta.json"), "w"), indent=1)
        for script in peers:
            # A peer that failed once (out of memory, say) is not run again.
            if any(r[3] is not None for r in peer_runs[script]):
                continue
            peer_runs[script].append(timed([sys.executable, os.path.abspath(script), d], may_fail=True))
    ls_wall = statistics.median(w for w, _ in ls_runs)
    ls_peak = statistics.median(p for _, p in ls_runs)
    result = {
        "leads": a.leads,
        "attributes": len(meta["attributes"]),
        "evaluation_leads": ours["validation_leads"],
        "runs": a.runs,
        "leadscore": {"wall_seconds": round(ls_wall, 1), "peak_mib": round(ls_peak), "auc": ours["auc"],
                      "each_run": [{"wall_seconds": round(w, 1), "peak_mib": round(p)} for w, p in ls_runs]},
        "truth_auc": ours["truth_auc_same_leads"],
        "peers": [],
    }
    for script in peers:
        runs = peer_runs[script]
        failed = [r for r in runs if r[3] is not None]
        # A failed run gives bounds: its own figures. Otherwise the medians.
        out, peer_wall, peer_peak, failure = failed[0] if failed else (
            runs[-1][0], statistics.median(r[1] for r in runs), statistics.median(r[2] for r in runs), None)
        peer = json.loads(out) if failure is None else None
        row = {"peer": os.path.basename(script), "wall_seconds": round(peer_wall, 1), "peak_mib": round(peer_peak),
               "failure": failure,
               "each_run": [{"wall_seconds": round(r[1], 1), "peak_mib": round(r[2])} for r in runs]}
        if peer is not None:
            row.update({"lightgbm_auc": round(peer["lightgbm"]["auc"], 4),
                        "logistic_auc": round(peer["logistic"]["auc"], 4),
                        "evaluation_leads": peer["n_eval"], "phases": peer.get("seconds")})
        # A failed peer gives bounds: it needed more than its wall time and its peak memory.
        row["ratios"] = {
            "speedup": round(peer_wall / ls_wall, 2),
            "memory_share": round(ls_peak / peer_peak, 3),
            "auc_difference": round(ours["auc"] - peer["lightgbm"]["auc"], 4) if peer else None,
            "bounds_only": failure is not None,
        }
        result["peers"].append(row)
    json.dump(result, open(os.path.join(d, "peer-bench.json"), "w"), indent=1)
    print(f"{a.leads} leads, {len(meta['attributes'])} attributes, out-of-time AUC on {ours['validation_leads']} leads "
          f"(truth {ours['truth_auc_same_leads']:.4f}); medians of {a.runs} alternating runs")
    print(f"{'':<26}{'wall s':>9}{'peak MiB':>10}{'AUC':>9}{'speed':>8}{'memory':>8}")
    print(f"{'leadscore (whole DAG)':<26}{ls_wall:>9.1f}{ls_peak:>10.0f}{ours['auc']:>9.4f}")
    for row in result["peers"]:
        r = row["ratios"]
        name = f"{row['peer']} (LightGBM)"
        auc = f"{row['lightgbm_auc']:.4f}" if row["failure"] is None else "-"
        bound = ">" if r["bounds_only"] else ""
        print(f"{name:<26}{row['wall_seconds']:>9.1f}{row['peak_mib']:>10.0f}{auc:>9}"
              f"{bound + str(r['speedup']) + 'x':>8}{r['memory_share']:>8.2f}"
              + (f"   {row['failure']}" if row["failure"] else f"   AUC {r['auc_difference']:+.4f}"))
    spread = lambda runs: f"{min(r['wall_seconds'] for r in runs)}-{max(r['wall_seconds'] for r in runs)} s"  # noqa: E731
    print("wall time of each run: leadscore " + spread(result["leadscore"]["each_run"]) + "".join(
        f", {row['peer']} {spread(row['each_run'])}" for row in result["peers"]))
    print("speed: the peer's wall time over leadscore's; memory: leadscore's peak over the peer's "
          "(targets against expert.py: at least 5x, at most 0.33, AUC not lower)")


if __name__ == "__main__":
    main()
