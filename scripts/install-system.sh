#!/usr/bin/env bash
# Install the system packages companion needs, idempotently.
#
#   scripts/install-system.sh          # ffmpeg (decode/encode) + libportaudio2 (live playback)
#   scripts/install-system.sh --test   # also the virtual sound device and TTS used by the tests:
#                                      # pulseaudio pulseaudio-utils libasound2-plugins alsa-utils espeak-ng,
#                                      # and chromium (headless: the journal report is opened in a real browser)
#
# Debian/Ubuntu: uses apt-get (as root, or through sudo when not root); runs `apt-get update` only when a
# package is missing and the package lists are absent or older than a day. macOS: prints the Homebrew
# equivalent. Quiet, but says what it does. Safe to run again: installs nothing already installed.
set -euo pipefail

want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-system.sh: unknown option '$arg' (allowed: --test, --help)" >&2; exit 2 ;;
  esac
done

packages=(ffmpeg libportaudio2)
if [ "$want_test" = 1 ]; then
  packages+=(pulseaudio pulseaudio-utils libasound2-plugins alsa-utils espeak-ng chromium)
fi

if [ "$(uname -s)" = "Darwin" ]; then
  # PortAudio ships inside the sounddevice wheel on macOS; only ffmpeg is needed. The PulseAudio virtual
  # device is Linux-only: on macOS the tests that need it are skipped.
  brew_packages="ffmpeg portaudio"
  [ "$want_test" = 1 ] && brew_packages="$brew_packages espeak-ng"
  echo "macOS: install with Homebrew:  brew install $brew_packages"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system.sh: no apt-get here. Install these with your package manager: ${packages[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" = 0 ]; then
  echo "System packages already installed: ${packages[*]}"
  exit 0
fi

as_root=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "install-system.sh: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  echo "Updating the package lists (apt-get update) ..."
  "${as_root[@]}" apt-get update -qq
fi
echo "Installing: ${missing[*]} ..."
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "Installed: ${missing[*]}"
