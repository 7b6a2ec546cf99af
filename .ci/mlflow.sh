#!/usr/bin/env bash
# Starts a real MLflow tracking server on loopback for the MLflow test (installing MLflow into
# target/mlflow-venv when missing: about a minute the first time) and prints two lines: the
# tracking URI and the venv's Python (the test reads the runs back with MLflow's own client).
# The server keeps its store in target/mlflow-server/ and its pid in target/mlflow-server/pid;
# `.ci/run` stops it (the whole process group) on exit. Needs python3 with venv and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv="$root/target/mlflow-venv"
if ! "$venv/bin/python" -c "import mlflow.server" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  # SQLAlchemy 2.1 dropped a pool class MLflow 2.19's SQL store imports.
  "$venv/bin/pip" install --quiet --disable-pip-version-check "mlflow==2.19.0" "sqlalchemy==2.0.36" >&2
fi
store="$root/target/mlflow-server"
# The server runs in a process group of its own (its gunicorn workers included): the pid file
# holds the group's id, and `kill -- -<id>` stops all of it.
if [ -f "$store/pid" ] && kill -0 "$(cat "$store/pid")" 2>/dev/null; then
  kill -- "-$(cat "$store/pid")" 2>/dev/null || true
  sleep 1
fi
rm -rf "$store"
mkdir -p "$store"
port=${LEADSCORE_MLFLOW_PORT:-5055}
# The default --serve-artifacts: runs upload their artifacts through the server.
if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=1)" 2>/dev/null; then
  echo "port $port on 127.0.0.1 is taken (another MLflow server?): set LEADSCORE_MLFLOW_PORT" >&2
  exit 1
fi
setsid "$venv/bin/mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
  --backend-store-uri "sqlite:///$store/mlflow.db" --artifacts-destination "$store/artifacts" \
  > "$store/server.log" 2>&1 &
echo $! > "$store/pid"
for _ in $(seq 1 120); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; then
    echo "http://127.0.0.1:$port"
    echo "$venv/bin/python"
    exit 0
  fi
  sleep 0.5
done
echo "the MLflow server did not start; its log:" >&2
cat "$store/server.log" >&2
exit 1
