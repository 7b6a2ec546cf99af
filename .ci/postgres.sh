#!/usr/bin/env bash
# Starts Debian's PostgreSQL server on loopback for the PostgreSQL source tests (installing it
# when it is not there), with a `leadscore` role owning a `leadscore` database, and prints the
# connection URL. Safe to run again: what exists is kept. Needs root (apt-get, su postgres).
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
  pg_createcluster "$version" main >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
# Debian's default listens on localhost only. Already running is fine (pg_isready tells).
pg_ctlcluster "$version" main start >&2 2>&1 || true
pg_isready -q -h 127.0.0.1 -p "$port" -t 60
su postgres -c "psql -q -v ON_ERROR_STOP=1 -p $port" >&2 <<'SQL'
SELECT 'CREATE ROLE leadscore LOGIN PASSWORD ''leadscore-ci'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'leadscore')\gexec
SELECT 'CREATE DATABASE leadscore OWNER leadscore'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'leadscore')\gexec
SQL
echo "postgresql://leadscore:leadscore-ci@127.0.0.1:$port/leadscore"
