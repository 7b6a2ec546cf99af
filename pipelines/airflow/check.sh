#!/usr/bin/env bash
# Checks the Airflow DAG under a real Apache Airflow: installs Airflow (pinned by
# constraints.txt) into a virtual environment, loads the DAG with DagBag (no import errors, the
# expected task graph and settings), then runs `airflow dags test` end to end on a copy of the
# bundled sample with the leadscore binary given as $1 (default: target/debug/leadscore).
#
#   bash pipelines/airflow/check.sh [path/to/leadscore]
#
# Needs python3 (3.9-3.12) with venv and network access to PyPI. About 3 minutes, most of it
# installing Airflow; the virtual environment is kept in target/airflow-venv for the next run.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bin=$(realpath "${1:-target/debug/leadscore}")
venv="$root/target/airflow-venv"

if ! "$venv/bin/python" -c "import airflow" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "apache-airflow==2.10.5" -c pipelines/airflow/constraints.txt
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AIRFLOW_HOME="$work/airflow"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$root/pipelines/airflow"
export AIRFLOW__CORE__UNIT_TEST_MODE=False
mkdir -p "$AIRFLOW_HOME"
cp -r data/sample "$work/sample"
export LEADSCORE_BIN="$bin"
export LEADSCORE_CONFIG="$work/sample/leadscore.toml"
export LEADSCORE_PIPELINE="$root/pipelines/daily.toml"

"$venv/bin/airflow" db migrate > "$work/db.log" 2>&1 || { cat "$work/db.log"; exit 1; }
"$venv/bin/python" pipelines/airflow/test_leadscore_daily.py
