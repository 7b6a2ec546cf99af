#!/usr/bin/env bash
# Installs the readers the Parquet interop test opens every output with, pinned old on purpose
# (the oldest a team is likely to still run): pyarrow 10 (with the NumPy 1 it was built
# against) and DuckDB, into a virtual environment under target/ (kept for the next run), and
# prints its Python. About 10 seconds the first time. Needs python3 with venv and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(pwd)/target/interop-venv"
if ! "$venv/bin/python" -c "import pyarrow, duckdb" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "pyarrow==10.0.1" "numpy==1.26.4" "duckdb==1.1.3" >&2
fi
echo "$venv/bin/python"
