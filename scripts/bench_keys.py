"""Key-to-sound latency of `companion play`, measured on the virtual sound device (used by bench_player.py).

A generated routine holds for two minutes over a steady 375 Hz tone (128 frames a period at 48 kHz), so
the level of every period is exact and a change of 0.02 dB is visible at once. parec records the sink's
monitor with the arrival time of every chunk; keys are written to the player's pseudo terminal during
the hold, and for each key the latency is the time from the write to the first period whose level moved
by more than ``CHANGE_DB`` from the steady level before the key.

Sample times come from chunk arrivals: sample i of a chunk that ends at sample N and arrived at t was
heard no later than t - (N - i) / rate. The least-delayed chunk within a few seconds of the key gives the
clock (the null sink runs at 47,953-47,998 frames/s, so one offset for a whole run would drift). Capture
delay is therefore included: the figures are an upper bound, measured the same way as FIELD-NOTES.md's
bare-stream 20-25 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # the repository: its tests/ package
from tests.livekit import Capture, PtyPlayer  # noqa: E402  (one copy of the pty and capture helpers)

RATE_HZ = 48_000
TONE_HZ = 375.0                 # 128 frames a period: a whole number of periods per level window
PERIOD = 128
CHANGE_DB = 0.005
PRESSES = 10

ROUTINE_TOML = """
name = "Key latency bench"
description = "One long hold over a steady tone, for scripts/bench_player.py."
[session]
music = "tone.wav"
fade_in_s = 5
fade_out_s = 15
chimes = false
line_gap_s = 0.5

[[steps]]
id = "hold"
title = "Holding"
do = "Rest"
lines = [{ text = "Rest.", clip = "blip.wav" }]
hold = 240
"""


def write_material(folder: Path) -> Path:
    import soundfile

    t = np.arange(int(300 * RATE_HZ)) / RATE_HZ
    tone = (0.1 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    soundfile.write(folder / "tone.wav", np.repeat(tone[:, None], 2, axis=1), RATE_HZ, subtype="FLOAT")
    blip = (0.05 * np.sin(2 * np.pi * 600 * t[: RATE_HZ // 4]) * np.hanning(RATE_HZ // 4)).astype(np.float32)
    soundfile.write(folder / "blip.wav", blip, RATE_HZ, subtype="FLOAT")
    routine = folder / "key-bench.toml"
    routine.write_text(ROUTINE_TOML)
    return routine


def measure(companion: str, folder: Path, env: dict[str, str]) -> dict[str, list[float]]:
    """Press space (pause, resume), -/+ (volume) and v/m (balance: the tone is the music, 0.5 dB a step)
    ``PRESSES`` times each during the hold; return the latencies in ms by key kind."""
    routine = write_material(folder)
    capture = Capture(SimpleNamespace(env={}, rate_hz=RATE_HZ), "room")    # the device is in os.environ
    time.sleep(0.5)
    presses: list[tuple[str, float]] = []
    try:
        with PtyPlayer(companion, [str(routine), "--device", "companion_room"], env) as player:
            player.wait_for(b"Playing", timeout_s=30)
            time.sleep(8.0)                          # fade-in and the one line are over: a steady tone
            for _ in range(PRESSES):
                for key, kind, settle_s in ((b"-", "volume", 1.0), (b"=", "volume", 1.0),
                                            (b"v", "balance", 1.0), (b"m", "balance", 1.0),
                                            (b" ", "pause", 1.5), (b" ", "resume", 2.0)):
                    presses.append((kind, time.monotonic()))
                    player.press(key)
                    time.sleep(settle_s)
            player.press(b"q")
            player.proc.wait(timeout=30)
    finally:
        time.sleep(0.3)
        samples = capture.stop()[:, 0]
    return _latencies(samples, capture.ends, capture.arrivals, presses)


def _latencies(samples: np.ndarray, ends: np.ndarray, arrivals: np.ndarray,
               presses: list[tuple[str, float]]) -> dict[str, list[float]]:
    periods = len(samples) // PERIOD
    level = 10 * np.log10(np.mean(samples[: periods * PERIOD].astype(np.float64).reshape(periods, PERIOD) ** 2,
                                  axis=1) + 1e-20)
    found: dict[str, list[float]] = {}
    for kind, pressed in presses:
        near = np.abs(arrivals - pressed) < 3.0
        offset = float(np.min(arrivals[near] - ends[near] / RATE_HZ))    # least-delayed chunk: the clock
        first = int((pressed - offset) * RATE_HZ) // PERIOD               # the period playing at the key
        before = level[first - 40: first - 2]
        steady = float(np.median(before))
        if np.ptp(before) > CHANGE_DB:                # not steady (a ramp still moving): no fair reading
            continue
        moved = np.flatnonzero(np.abs(level[first: first + 400] - steady) > CHANGE_DB)
        if len(moved):
            heard = offset + (first + int(moved[0])) * PERIOD / RATE_HZ
            found.setdefault(kind, []).append((heard - pressed) * 1000)
    return found


def summary(found: dict[str, list[float]]) -> str:
    lines = []
    for kind in ("pause", "resume", "volume", "balance"):
        values = found.get(kind, [])
        if values:
            lines.append(f"  {kind:7s}: median {statistics.median(values):5.0f} ms, max {max(values):5.0f} ms "
                         f"({len(values)} presses)")
        else:
            lines.append(f"  {kind:7s}: no reading")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(summary(measure(str(Path(sys.executable).with_name("companion")), Path(tmp), dict(os.environ))))
