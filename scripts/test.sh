#!/usr/bin/env bash
# Install everything the tests need (idempotent), then run the whole suite.
# Extra arguments go to pytest, e.g.  scripts/test.sh -k limiter
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh" --test
cd "$root"
exec "${COMPANION_VENV:-$root/.venv}/bin/python" -m pytest "$@"
