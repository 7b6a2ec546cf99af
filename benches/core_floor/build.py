"""The chosen core's floor (issue 25): how large a release binary is, and how long a cold release
build takes, for a program that uses each core dependency once as leadscore does (floor.rs: polars
with leadscore's features, its SQL context included; polars-io's CSV and Parquet; arrow-rs and
its Parquet reader; forust-ml; linfa-trees; minijinja; clap) and nothing of leadscore's own.

    python3 benches/core_floor/build.py [--target-dir DIR]

Writes a crate under target/core-floor with the workspace's Cargo.lock, the workspace's
declarations of those dependencies and its release profile (fat LTO, one codegen unit, the same
crates at opt-level "s"), builds it with `cargo build --release --offline` into DIR (default: an
empty target/core-floor/target, so the build is cold once the crates are downloaded; run
`cargo fetch` in the workspace first) and prints the build's seconds and the binary's bytes.
"""
import argparse, os, shutil, subprocess, time, tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE = ["polars", "polars-io", "arrow", "parquet", "linfa", "linfa-trees", "ndarray", "forust-ml", "minijinja",
        "clap"]


def inline(value):
    """A TOML value of the workspace's dependency declarations (strings, booleans, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {inline(v)}" for k, v in value.items()) + " }"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target-dir")
    a = ap.parse_args()
    text = open(os.path.join(ROOT, "Cargo.toml")).read()
    deps = tomllib.loads(text)["workspace"]["dependencies"]
    # The profiles as the workspace writes them, from the first [profile…] table to [package].
    profiles = text[text.index("[profile."):text.index("\n[package]")]
    crate = os.path.join(ROOT, "target", "core-floor")
    os.makedirs(os.path.join(crate, "src"), exist_ok=True)
    shutil.copy(os.path.join(ROOT, "benches", "core_floor", "floor.rs"), os.path.join(crate, "src", "main.rs"))
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(crate, "Cargo.lock"))
    with open(os.path.join(crate, "Cargo.toml"), "w") as f:
        f.write('[package]\nname = "core-floor"\nversion = "0.1.0"\nedition = "2024"\n\n[workspace]\n\n')
        f.write("[dependencies]\n" + "".join(f"{n} = {inline(deps[n])}\n" for n in CORE) + "\n" + profiles)
    target = os.path.abspath(a.target_dir or os.path.join(crate, "target"))
    if not a.target_dir:
        shutil.rmtree(target, ignore_errors=True)
    started = time.time()
    subprocess.run(["cargo", "build", "--release", "--offline", "--target-dir", target], cwd=crate, check=True)
    seconds = time.time() - started
    binary = os.path.join(target, "release", "core-floor")
    print(f"build {seconds:.0f} s; binary {os.path.getsize(binary):,} bytes ({os.path.getsize(binary) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
