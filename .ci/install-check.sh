#!/usr/bin/env bash
# The README's one-command install, as a new user runs it: `cargo install --locked --path .` into a
# temporary root, then the installed binary's version and the bundled sample's whole DAG in a
# folder of its own. In the debug profile with CI's target folder, which the test build has
# already filled, so that it costs a link instead of a 16-minute release build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
CARGO_TARGET_DIR=target cargo install --locked --debug --path . --root "$root"
bin="$root/bin/leadscore"
version=$("$bin" --version)
echo "$version"
commit=$(git rev-parse --short=12 HEAD)
[[ "$version" == "leadscore $(cargo pkgid --quiet | sed 's/.*[#@]//') (commit $commit)" ]] \
    || { echo "expected the version and commit $commit, got: $version" >&2; exit 1; }
mkdir -p "$root/sample/data"
cp leadscore.toml "$root/sample/"
cp -r data/sample "$root/sample/data/"
"$bin" run --config "$root/sample/leadscore.toml" --json > "$root/summary.json"
test -s "$root/sample/models/champion.json" || { echo "the installed binary trained no champion" >&2; exit 1; }
"$bin" completions bash > "$root/leadscore.bash" && bash -n "$root/leadscore.bash"
"$bin" man --out-dir "$root/man" > /dev/null && test -s "$root/man/leadscore-run.1"
echo "installed, ran the sample, completions and manual pages"
