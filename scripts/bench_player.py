#!/usr/bin/env python3
"""Benchmark live playback: the figures issues 3 and 11 ask for, measured in one run.

    python scripts/bench_player.py              # all five (~6 minutes)
    python scripts/bench_player.py --quick      # shorter runs (about 2 minutes), same figures

1. render cost per 1024-frame block of the default routine (mean, p99.9, max in microseconds)
2. CPU share of one core while `companion play` plays the default routine, the ffmpeg decoder
   children included                                                               (target <= 1 %)
3. time from process start to stream start, median of 5                            (target <= 1 s)
4. key to sound: pause, resume and a 1 dB volume step pressed through a pseudo terminal during a hold
   over a steady tone, heard on the sink's monitor (scripts/bench_keys.py)   (target median <= 100 ms,
   max <= 150 ms)
5. underflows while playing 2 minutes with the other core kept busy                (target 0)

The machine's load average is printed with each figure: on a shared machine other processes cost
underflows that no player setting can prevent (a C callback, python-rtmixer, measured the same).

Playback goes to a private virtual sound device (scripts/virtual-sound.sh) started here and stopped at
the end, so the benchmark runs the real PortAudio path on a machine with no sound card.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_keys  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VIRTUAL_SOUND = ROOT / "scripts" / "virtual-sound.sh"
COMPANION = str(Path(sys.executable).with_name("companion"))
TICKS_HZ = os.sysconf("SC_CLK_TCK")


def render_cost(seconds: float) -> dict[str, float]:
    from companion.mix.assemble import build_session
    from companion.plan.routine import DEFAULT_ROUTINE, load_routine

    session = build_session(load_routine(DEFAULT_ROUTINE), rate_hz=48_000)
    block = np.zeros((1024, 2), dtype=np.float32)
    costs = []
    for _ in range(int(seconds * 48_000 / 1024)):
        started = time.perf_counter()
        session.render(block)
        costs.append(time.perf_counter() - started)
        if session.finished:
            break
    us = np.array(costs) * 1e6
    return {"blocks": len(us), "mean_us": float(us.mean()), "p99_9_us": float(np.percentile(us, 99.9)),
            "max_us": float(us.max()), "block_period_us": 1024 / 48_000 * 1e6}


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and all its children: its own, its reaped children's (cutime, cstime) and
    its live children's (the ffmpeg decoders), recursively."""
    fields = _stat(pid)
    total = sum(int(f) for f in fields[11:15]) / TICKS_HZ      # utime, stime, cutime, cstime
    for child in _children(pid):
        try:
            total += cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError):
            pass                                              # ended in between: counted once reaped
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return found


def load() -> str:
    return f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def play(seconds: float, stats: Path, *, measure_cpu_from: float | None = None) -> dict:
    """Run `companion play --no-keys` for ``seconds``, then SIGTERM it; returns its stats (+ cpu share)."""
    env = {**os.environ, "COMPANION_PLAYER_STATS": str(stats)}
    spawned = time.time()
    proc = subprocess.Popen([COMPANION, "play", "--no-keys"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    cpu_share = None
    if measure_cpu_from is not None:
        time.sleep(measure_cpu_from)
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds - measure_cpu_from)
        cpu_share = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - wall0)
    else:
        time.sleep(seconds)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    if not stats.exists():
        raise SystemExit(f"companion play wrote no stats (exit {proc.returncode}): {err.strip()}")
    figures = json.loads(stats.read_text())
    stats.unlink()
    figures["start_to_stream_s"] = figures["stream_started_unix"] - spawned
    figures["cpu_share"] = cpu_share
    figures["exit_code"] = proc.returncode
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    quick = args.quick

    with tempfile.TemporaryDirectory(prefix="bench-player-") as tmp:
        tmp_path = Path(tmp)
        started = subprocess.run([str(VIRTUAL_SOUND), "start", "--dir", str(tmp_path / "sound")],
                                 capture_output=True, text=True, check=True)
        for line in started.stdout.splitlines():
            key, value = line.removeprefix("export ").split("=", 1)
            os.environ[key] = value.strip("'")
        busy = None
        try:
            cost = render_cost(60 if quick else 300)
            print(f"render cost per 1024-frame block ({cost['blocks']} blocks): mean {cost['mean_us']:.0f} us, "
                  f"p99.9 {cost['p99_9_us']:.0f} us, max {cost['max_us']:.0f} us "
                  f"(block period {cost['block_period_us']:.0f} us)")

            stats = tmp_path / "stats.json"
            cpu = play(30 if quick else 90, stats, measure_cpu_from=3)
            print(f"CPU share of one core while playing, ffmpeg children included: {cpu['cpu_share'] * 100:.2f} % "
                  f"(target <= 1 %; {load()})")

            starts = [play(2.5, stats)["start_to_stream_s"] for _ in range(5)]
            print(f"process start to stream start: median {statistics.median(starts):.3f} s "
                  f"(runs: {', '.join(f'{s:.3f}' for s in starts)}; target <= 1 s)")

            print(f"key to sound ({load()}):")
            print(bench_keys.summary(bench_keys.measure(COMPANION, tmp_path, dict(os.environ))))

            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            loaded = play(30 if quick else 120, stats)
            print(f"underflows in {30 if quick else 120} s with the other core busy: {loaded['underflows']} "
                  f"(device {loaded['device_underflows']}, ring {loaded['ring_underruns']}; target 0; {load()}); "
                  f"render max {loaded['render_max_us']:.0f} us, callback max {loaded['callback_max_us']:.0f} us, "
                  f"device buffer {loaded['latency_s'] * 1000:.0f} ms")
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
            subprocess.run([str(VIRTUAL_SOUND), "stop", "--dir", str(tmp_path / "sound")], capture_output=True)


if __name__ == "__main__":
    main()
