#!/usr/bin/env python3
"""Benchmark live playback: the figures issue 3 asks for, measured in one run.

    python scripts/bench_player.py              # all four (~4 minutes)
    python scripts/bench_player.py --quick      # shorter runs (about a minute), same figures

1. render cost per 1024-frame block of the default routine (mean, p99.9, max in microseconds)
2. CPU share of one core while `companion play` plays the default routine         (target <= 3 %)
3. time from process start to stream start, median of 5                            (target <= 1 s)
4. underflows while playing 2 minutes with the other core kept busy                (target 0)

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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_HZ      # utime + stime


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
            cpu = play(15 if quick else 40, stats, measure_cpu_from=3)
            print(f"CPU share of one core while playing: {cpu['cpu_share'] * 100:.2f} % (target <= 3 %)")

            starts = [play(2.5, stats)["start_to_stream_s"] for _ in range(5)]
            print(f"process start to stream start: median {statistics.median(starts):.3f} s "
                  f"(runs: {', '.join(f'{s:.3f}' for s in starts)}; target <= 1 s)")

            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            loaded = play(30 if quick else 120, stats)
            print(f"underflows in {30 if quick else 120} s with the other core busy: {loaded['underflows']} "
                  f"(device {loaded['device_underflows']}, ring {loaded['ring_underruns']}; target 0); "
                  f"render max {loaded['render_max_us']:.0f} us")
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
            subprocess.run([str(VIRTUAL_SOUND), "stop", "--dir", str(tmp_path / "sound")], capture_output=True)


if __name__ == "__main__":
    main()
