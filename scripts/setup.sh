#!/usr/bin/env bash
# Set companion up from a fresh checkout: system packages, then a virtual environment with the package.
#
#   scripts/setup.sh           # ffmpeg + PortAudio, and .venv with companion
#   scripts/setup.sh --test    # also the test tools: virtual sound device, espeak-ng, pytest, pyloudnorm
#
# Idempotent: a second run installs nothing new. COMPANION_VENV chooses the environment (default .venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${COMPANION_VENV:-$root/.venv}
extras=""
system_flags=()
for arg in "$@"; do
  case "$arg" in
    --test) extras="[test]"; system_flags+=(--test) ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (allowed: --test, --help)" >&2; exit 2 ;;
  esac
done

bash "$root/scripts/install-system.sh" "${system_flags[@]}"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup.sh: companion needs Python 3.10 or newer ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    echo "setup.sh: could not create a virtual environment; on Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
  fi
fi
# What was installed, and from where: a second run with the same pyproject.toml, extras and checkout skips
# pip (~8 s). Editing pyproject.toml (a new dependency) or asking for other extras installs again.
stamp="$venv/.companion-install"
want="$( { sha256sum "$root/pyproject.toml" | cut -d' ' -f1; echo "$root$extras"; } | tr '\n' ' ')"
if [ -x "$venv/bin/companion" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "Ready (already installed): $venv/bin/companion"
  exit 0
fi
echo "Installing companion$extras into $venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
log=$(mktemp)
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root$extras" >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup.sh: installing the Python package failed (the lines above say why)" >&2
  rm -f "$log" "$stamp"
  exit 1
fi
rm -f "$log"
printf '%s' "$want" > "$stamp"
echo "Ready: $venv/bin/companion"
