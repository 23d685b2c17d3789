"""Keys answer at once on the real device path (PortAudio -> ALSA pulse plugin -> PulseAudio null sink).

The music is a steady 375 Hz tone (128 frames a period at 48 kHz), so the level of each period is exact
and the first period a control changes is found to the millisecond. Keys go through a pseudo terminal;
the capture's clock comes from parec's chunk arrival times (tests.conftest.Capture), so the delay
measured includes the capture's own (~10-20 ms): an upper bound. The bound asserted is generous
(0.3 s, "well under a second"; ~75 ms measured): scripts/bench_player.py measures the median and max
properly. Gains applied where content is rendered ahead (as before) are heard after the 0.5 s ring:
~1.0-1.1 s with the old 0.3 s device buffer, 541 ms with today's.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

from tests.livekit import Capture, PtyPlayer

sf = pytest.importorskip("soundfile")

COMPANION = os.path.join(os.path.dirname(sys.executable), "companion")
RATE_HZ = 48_000
PERIOD = 128                     # frames of one 375 Hz period
CHANGE_DB = 0.005                # a level change this small is already visible on a steady tone
HEARD_WITHIN_S = 0.3

ROUTINE_TOML = """
name = "Key test"
description = "One long hold over a steady tone."
[session]
music = "tone.wav"
fade_in_s = 5
fade_out_s = 15
chimes = false

[[steps]]
id = "hold"
title = "Holding"
do = "Rest"
lines = [{ text = "Rest.", clip = "blip.wav" }]
hold = 60
"""




def period_levels_db(left: np.ndarray) -> np.ndarray:
    periods = len(left) // PERIOD
    power = np.mean(left[: periods * PERIOD].astype(np.float64).reshape(periods, PERIOD) ** 2, axis=1)
    return 10 * np.log10(power + 1e-20)


def first_change_s(levels: np.ndarray, at_s: float) -> float:
    """Seconds from ``at_s`` (capture time) to the first period whose level left the steady level."""
    first = int(at_s * RATE_HZ) // PERIOD
    before = levels[first - 40: first - 2]
    before = before[before > -100]      # a dropout under a loaded machine is silence, not the key's doing
    assert len(before) >= 20 and np.ptp(before) < CHANGE_DB, "the tone is steady before the key"
    moved = np.flatnonzero(np.abs(levels[first: first + 2 * RATE_HZ // PERIOD] - np.median(before)) > CHANGE_DB)
    assert len(moved), "the key changed the sound within 2 s"
    return int(moved[0]) * PERIOD / RATE_HZ


def test_pause_and_volume_are_heard_well_under_a_second(virtual_sound, tmp_path):
    t = np.arange(90 * RATE_HZ) / RATE_HZ
    tone = (0.1 * np.sin(2 * np.pi * 375.0 * t)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", np.repeat(tone[:, None], 2, axis=1), RATE_HZ, subtype="FLOAT")
    blip = (0.05 * np.sin(2 * np.pi * 600 * t[: RATE_HZ // 4]) * np.hanning(RATE_HZ // 4)).astype(np.float32)
    sf.write(tmp_path / "blip.wav", blip, RATE_HZ, subtype="FLOAT")
    (tmp_path / "keys.toml").write_text(ROUTINE_TOML)
    env = {k: v for k, v in os.environ.items() if k != "COMPANION_DEVICE_BUFFER_MS"}   # the default buffer
    env.update(virtual_sound.env)

    capture = Capture(virtual_sound, "room")
    time.sleep(0.5)
    try:
        with PtyPlayer(COMPANION, [str(tmp_path / "keys.toml"), "--device", "companion_room"], env) as player:
            player.wait_for(b"Playing", timeout_s=30)
            time.sleep(8.0)                    # past the fade-in and the one line: a steady tone
            pressed = {}
            for key, kind in ((b"-", "volume"), (b" ", "pause")):
                pressed[kind] = time.monotonic()
                player.press(key)
                time.sleep(1.5)
            player.press(b"q")
            player.proc.wait(timeout=30)
    finally:
        time.sleep(0.3)
        audio = capture.stop()
    assert player.proc.returncode == 0, player.output[-300:]
    levels = period_levels_db(audio[:, 0])
    for kind, at in pressed.items():
        heard_s = first_change_s(levels, at - capture.t0)
        assert heard_s <= HEARD_WITHIN_S, f"{kind} heard {1000 * heard_s:.0f} ms after the key (wanted <= 300 ms)"


# ------------------------------------------------------------------ next: the ring is flushed, crossfaded
def test_next_flushes_the_ring_with_a_crossfade_so_the_next_step_comes_sooner(tmp_path, monkeypatch):
    """The player's own threads without a device: the render thread fills the ring, the test plays the
    callback's part at the device's pace (after each block the ring is full again, as when the render
    thread keeps ahead). 'next' re-plans 0.8 s after the render thread's clock; flushing what was rendered
    ahead brings step two's first line to ~0.8 s after the key instead of ~1.4 s (the 0.6 s ring in front).
    The key comes in step one's hold (the steady tone alone) and the jump is crossfaded: around it, no
    sample step more than twice the tone's own (a hard cut between two points of the tone: ~30x)."""
    from types import SimpleNamespace

    from companion.controls import Command
    from companion.mix.assemble import build_session
    from companion.output.device import OutputDevice
    from companion.output.stream import RENDER_BLOCKS, Player
    from companion.plan.routine import load_routine
    from tests import sessionkit as kit

    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))
    kit.make_material(tmp_path)

    def build():
        return build_session(load_routine(kit.three_steps(tmp_path, "v")), music=[str(tmp_path / "music")], seed=0)

    session = build()
    hold = session.timeline.steps[0]
    natural = np.abs(np.diff(kit.render_all(build(), 1024)[hold.hold_start: hold.hold_end], axis=0)).max()
    player = Player(session, OutputDevice(0, "none", "test", 2, RATE_HZ, True))
    producer = threading.Thread(target=player._produce, daemon=True)
    producer.start()
    full = player._n - 2 * RENDER_BLOCKS
    block, ok = np.zeros((1024, 2), np.float32), SimpleNamespace(output_underflow=False)
    post_at = (hold.hold_start + RATE_HZ) // 1024
    heard_frames, outs = [], []
    try:
        for i in range(post_at + int(3.0 * RATE_HZ / 1024)):
            deadline = time.monotonic() + 5
            while player._written - player._read < full and time.monotonic() < deadline:
                time.sleep(0.0005)
            if i == post_at:
                player.post(Command.NEXT)
                time.sleep(0.05)             # the render thread re-plans (and flushes) at once
            player._callback(block, 1024, None, ok)
            heard_frames.append(player.stage.frame - 1024)
            outs.append(block.copy())
    finally:
        player._stop_producer = True
        player._wake.set()
        producer.join(timeout=5)
        session.close()
    second = next(e for e in session.timeline.voice if e.step == 1)
    heard_at = next(i for i, f in enumerate(heard_frames) if f <= second.start < f + 1024)
    after_s = (heard_at - post_at) * 1024 / RATE_HZ
    assert after_s <= 1.1, f"step two's first line heard {after_s:.2f} s after the key (wanted <= 1.1 s)"
    assert player._flushes == 1 and player._ring_underruns == 0
    around = np.concatenate(outs[post_at - 4: post_at + 8])
    step = np.abs(np.diff(around, axis=0)).max()
    assert step <= 2 * natural, f"largest step {step:.4f} around the flush vs {natural:.4f} in the hold: a click"
