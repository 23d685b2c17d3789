"""The live status shows what is heard, and balance answers like volume, on the player's own threads.

The render thread fills the ring as in play; the test plays the callback's part at the device's pace,
so the frames handed to the "device" are counted here, independently of the player: what is heard now
is that count less the device buffer. (Key-to-sound on the real device path: tests/test_live_keys.py
and scripts/bench_keys.py.)
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from tests import sessionkit as kit

RATE_HZ = 48_000
BLOCK = 1024
DEVICE_BUFFER_S = 0.0427


def tone_level_db(x: np.ndarray, freq_hz: float = 440.0) -> float:
    """The level of the 440 Hz tone in ``x`` by a least-squares fit of a sine and a cosine: exact for a
    steady tone over any number of periods (a plain RMS of 1024 frames wobbles by 0.1 dB)."""
    t = np.arange(len(x)) / RATE_HZ
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], axis=1)
    coef = np.linalg.lstsq(basis, x.astype(np.float64), rcond=None)[0]
    return float(20 * np.log10(np.hypot(*coef)))


@pytest.fixture()
def live(tmp_path, monkeypatch):
    """A Player over the three-step routine (speech-like clips over a steady tone), its render thread
    running, and ``play(blocks)`` that hands blocks to a stand-in device, keeping the ring full."""
    from companion.mix.assemble import build_session
    from companion.output.device import OutputDevice
    from companion.output.stream import RENDER_BLOCKS, Player
    from companion.plan.routine import load_routine

    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))
    kit.make_material(tmp_path)
    session = build_session(load_routine(kit.three_steps(tmp_path, "v")), music=[str(tmp_path / "music")], seed=0)
    player = Player(session, OutputDevice(0, "none", "test", 2, RATE_HZ, True), latency_s=DEVICE_BUFFER_S)
    producer = threading.Thread(target=player._produce, daemon=True)
    producer.start()
    full = player._n - 2 * RENDER_BLOCKS
    ok = SimpleNamespace(output_underflow=False)
    sent: list[np.ndarray] = []

    def play(blocks: int, each=None) -> None:
        for _ in range(blocks):
            deadline = time.monotonic() + 5
            while (player._written - player._read < full and not (session.paused and player.stage.holding)
                   and time.monotonic() < deadline):
                player._wake.set()                   # no need to wait for its next wake-up
                time.sleep(0.0005)
            block = np.zeros((BLOCK, 2), np.float32)
            player._callback(block, BLOCK, None, ok)
            sent.append(block)
            if each is not None:
                each()

    yield SimpleNamespace(player=player, session=session, play=play, sent=sent)
    player._stop_producer = True
    player._wake.set()
    producer.join(timeout=5)
    session.close()


def test_the_status_clock_is_the_heard_position_and_does_not_jump_over_a_pause(live):
    from companion.controls import Command

    clocks: list[float] = []
    live.play(int(8 * RATE_HZ / BLOCK), each=lambda: clocks.append(live.player.heard_status().elapsed_s))
    heard_s = len(live.sent) * BLOCK / RATE_HZ - DEVICE_BUFFER_S      # frames given to the device, less its buffer
    assert abs(clocks[-1] - heard_s) <= BLOCK / RATE_HZ, f"clock {clocks[-1]:.3f} s, heard {heard_s:.3f} s"
    rendered_s = live.session.status().elapsed_s
    assert rendered_s - clocks[-1] >= 0.4, "the rendered position runs ahead (the ring): the clock must not show it"

    live.player.post(Command.PAUSE)
    live.play(int(2.5 * RATE_HZ / BLOCK), each=lambda: clocks.append(live.player.heard_status().elapsed_s))
    paused_at = clocks[-1]
    assert abs(paused_at - clocks[-20]) < 1e-9, "the clock stands still once the pause fade is silent"
    live.player.post(Command.RESUME)
    live.play(int(3 * RATE_HZ / BLOCK), each=lambda: clocks.append(live.player.heard_status().elapsed_s))
    steps = np.diff(clocks)
    assert steps.min() >= 0.0, "the clock never runs backwards"
    assert steps.max() <= BLOCK / RATE_HZ + 1e-6, f"the clock jumped {steps.max():.3f} s in one block"
    assert clocks[-1] - paused_at >= 2.0, "it runs again after the resume"


def test_balance_is_heard_in_the_next_block_as_a_ramp(live):
    """During step one's hold (the steady tone alone) 'v' x6 (+6 dB voice) lowers the music by 3 dB: the
    change starts in the block after the key, not after the ~0.6 s the ring holds, and ramps (150 ms)."""
    from companion.controls import Command

    hold = live.session.timeline.steps[0]
    key_block = (hold.hold_start + 2 * RATE_HZ) // BLOCK      # the duck has released by then
    live.play(key_block)
    for _ in range(6):
        live.player.post(Command.BALANCE, 1.0)
    live.play(int(0.5 * RATE_HZ / BLOCK))
    assert live.player.heard_status().balance_db == 6.0
    levels_db = np.array([tone_level_db(b[:, 0]) for b in live.sent])
    steady = levels_db[key_block - 8: key_block]
    assert np.ptp(steady) < 0.002, "the tone is steady before the key"
    change = levels_db[key_block:] - steady.mean()
    moved = int(np.flatnonzero(np.abs(change) > 0.01)[0])
    assert moved <= 1, f"balance first heard {moved} blocks ({moved * BLOCK / RATE_HZ * 1000:.0f} ms) after the key"
    assert abs(change[-4:].mean() + 3.0) < 0.1, f"music {change[-4:].mean():+.2f} dB after +6 dB balance (wanted -3)"
    ramp_blocks = int(np.flatnonzero(np.abs(change + 3.0) < 0.01)[0])
    assert 4 <= ramp_blocks <= 12, f"the 3 dB move took {ramp_blocks} blocks (wanted a ~150 ms ramp: ~7)"
