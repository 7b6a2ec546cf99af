#!/usr/bin/env bash
# Installs Debian's chromium when it is missing (for the test that lays the reports out in a real
# browser) and prints its path. About 35 seconds the first time. Needs root (apt-get).
set -euo pipefail
if ! command -v chromium >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
command -v chromium
