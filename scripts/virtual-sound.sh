#!/usr/bin/env bash
# A virtual sound device for tests and CI on a machine with no sound card.
#
#   scripts/virtual-sound.sh start [--sinks room,cue] [--sources mic] [--dir DIR]   # start; prints env lines
#   eval "$(scripts/virtual-sound.sh env [--dir DIR])"              # point this shell at it
#   scripts/virtual-sound.sh stop [--dir DIR]                       # stop it (by its PID)
#   scripts/virtual-sound.sh status [--dir DIR]
#
# A private PulseAudio daemon (-n: no default modules, its own runtime dir and socket, autospawn off,
# never exits when idle) with one null sink per name in --sinks (default: room; the first is the
# default sink), each at 48 kHz float32 stereo with norewinds=1. PortAudio reaches it through ALSA's
# `pulse` plugin: a private ALSA config (loaded through ALSA_CONFIG_PATH after the system one, so the
# user's own ~/.asoundrc is never touched) makes `default` the first sink and adds one PCM
# per sink named `companion_SINK`. Start it BEFORE importing sounddevice: PortAudio enumerates devices once.
# `parec --device=SINK.monitor --raw --format=float32le --rate=48000 --channels=2` records what was played,
# bit-exactly. Each name in --sources is a microphone to record from: a mono null sink NAME whose monitor
# is the input (`pacat --device=NAME` plays into it at real time), reached as the ALSA PCM `companion_NAME`;
# the first is the default source. DIR defaults to $COMPANION_SOUND_DIR or /tmp/companion-sound-$UID.
set -euo pipefail

cmd="${1:-}"
[ $# -gt 0 ] && shift
dir="${COMPANION_SOUND_DIR:-${TMPDIR:-/tmp}/companion-sound-$(id -u)}"
sinks="room"
sources=""
rate_hz=48000
while [ $# -gt 0 ]; do
  case "$1" in
    --sinks) sinks="$2"; shift 2 ;;
    --sinks=*) sinks="${1#*=}"; shift ;;
    --sources) sources="$2"; shift 2 ;;
    --sources=*) sources="${1#*=}"; shift ;;
    --dir) dir="$2"; shift 2 ;;
    --dir=*) dir="${1#*=}"; shift ;;
    *) echo "virtual-sound.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

runtime="$dir/runtime"
socket="$runtime/native"
pidfile="$dir/pulseaudio.pid"

alsa_top() {
  for candidate in /usr/share/alsa/alsa.conf /etc/alsa/alsa.conf /usr/local/share/alsa/alsa.conf; do
    [ -f "$candidate" ] && { echo "$candidate"; return; }
  done
  echo /usr/share/alsa/alsa.conf
}

print_env() {
  echo "export PULSE_SERVER='unix:$socket'"
  echo "export PULSE_RUNTIME_PATH='$runtime'"
  echo "export PULSE_STATE_PATH='$dir/state'"
  echo "export PULSE_CLIENTCONFIG='$dir/client.conf'"
  echo "export ALSA_CONFIG_PATH='$(alsa_top):$dir/asoundrc'"
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
  if ! command -v pulseaudio >/dev/null 2>&1; then
    echo "virtual-sound.sh: pulseaudio is not installed (run scripts/install-system.sh --test)" >&2
    exit 1
  fi
  if running; then
    echo "virtual-sound.sh: already running (pid $(cat "$pidfile"), dir $dir)" >&2
    print_env
    return
  fi
  mkdir -p "$runtime" "$dir/state"
  chmod 700 "$dir" "$runtime"
  rm -f "$socket"
  printf 'autospawn = no\ndaemon-binary = /bin/true\n' >"$dir/client.conf"
  local first="" load=() IFS_OLD="$IFS"
  IFS=','
  for sink in $sinks; do
    [ -z "$first" ] && first="$sink"
    load+=(-L "module-null-sink sink_name=$sink rate=$rate_hz format=float32le channels=2 norewinds=1 sink_properties=device.description=companion-$sink")
  done
  local first_source=""
  for source in $sources; do
    [ -z "$first_source" ] && first_source="$source"
    load+=(-L "module-null-sink sink_name=$source rate=$rate_hz format=float32le channels=1 norewinds=1 sink_properties=device.description=companion-$source-feed")
  done
  IFS="$IFS_OLD"

  # The ALSA side: default goes to the first sink, companion_SINK to each sink by name; `pulse` (defined by
  # libasound2-plugins) follows PULSE_SERVER from `env`. No hints: they clash with the system's definitions.
  {
    echo "pcm.!default { type pulse; server \"unix:$socket\"; device \"$first\" }"
    echo "ctl.!default { type pulse; server \"unix:$socket\" }"
    IFS=','
    for sink in $sinks; do
      echo "pcm.companion_$sink { type pulse; server \"unix:$socket\"; device \"$sink\" }"
    done
    for source in $sources; do
      echo "pcm.companion_$source { type pulse; server \"unix:$socket\"; device \"$source.monitor\" }"
    done
    IFS="$IFS_OLD"
  } >"$dir/asoundrc"

  # setsid: the daemon outlives this script and ignores the caller's Ctrl-C; stopped by PID only.
  PULSE_RUNTIME_PATH="$runtime" PULSE_STATE_PATH="$dir/state" PULSE_CLIENTCONFIG="$dir/client.conf" \
    setsid pulseaudio -n --daemonize=no --exit-idle-time=-1 --use-pid-file=no --system=no \
      --disallow-module-loading=no --realtime=no --high-priority=no --log-target=stderr --log-level=error \
      -L "module-native-protocol-unix auth-anonymous=1 socket=$socket" "${load[@]}" \
      </dev/null >"$dir/pulseaudio.log" 2>&1 &
  echo $! >"$pidfile"

  eval "$(print_env)"
  for _ in $(seq 1 100); do
    if pactl info >/dev/null 2>&1; then
      pactl set-default-sink "$first" >/dev/null
      [ -z "$first_source" ] || pactl set-default-source "$first_source.monitor" >/dev/null
      echo "virtual-sound.sh: PulseAudio started (pid $(cat "$pidfile"), sinks: $sinks${sources:+, sources: $sources} at $rate_hz Hz float32, dir $dir)" >&2
      print_env
      return
    fi
    running || break
    sleep 0.05
  done
  echo "virtual-sound.sh: PulseAudio did not start; its log ($dir/pulseaudio.log):" >&2
  cat "$dir/pulseaudio.log" >&2 || true
  stop_daemon
  exit 1
}

stop_daemon() {
  if [ -f "$pidfile" ]; then
    local pid
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  fi
  rm -f "$socket"
}

case "$cmd" in
  start) start ;;
  stop) stop_daemon; echo "virtual-sound.sh: stopped (dir $dir)" >&2 ;;
  env) print_env ;;
  status)
    if running; then echo "running (pid $(cat "$pidfile"), dir $dir)"; else echo "not running (dir $dir)"; exit 1; fi ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || [ "$cmd" = -h ] || [ "$cmd" = --help ] || exit 2 ;;
esac
