#!/usr/bin/env bash
# The main job in one command: set up (idempotent), then play the default guided session.
# Extra arguments go to `companion play`, e.g.  scripts/start.sh quick-reset --minutes 5
# With no sound device, companion says so and renders the session to a file instead (and says where).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
exec "${COMPANION_VENV:-$root/.venv}/bin/companion" play "$@"
