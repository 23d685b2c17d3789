"""Live controls on a Session: every move is a ramp, and each does what the key promises."""

from __future__ import annotations

import numpy as np
import pytest

from companion import dsp
from companion.controls import Command
from companion.mix.assemble import build_session
from companion.plan.routine import load_routine
from tests import sessionkit as kit

RATE = kit.RATE
BLOCK = 1024
CLICK_MARGIN_DB = 1.0  # a control may not make any sample-to-sample step larger than the same session
                       # makes on its own when played through (music and voice), plus this margin


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))


def build(folder):
    return build_session(load_routine(kit.three_steps(folder, "v")), music=[str(folder / "music")], seed=0)


@pytest.fixture
def session(tmp_path):
    kit.make_material(tmp_path)
    return build(tmp_path)


@pytest.fixture
def natural_step_db(tmp_path, session):
    """The largest sample-to-sample step of the same session played through without controls."""
    return max_step(kit.render_all(build(tmp_path)))


def run(session, seconds: float) -> np.ndarray:
    out = np.zeros((BLOCK, 2), np.float32)
    parts = []
    for _ in range(int(seconds * RATE / BLOCK)):
        written = session.render(out)
        parts.append(out[:written].copy())
        if session.finished:
            break
    return np.concatenate(parts) if parts else np.zeros((0, 2), np.float32)


def ramp_seconds(level_db: np.ndarray, window_s: float, high: float, low: float) -> float:
    """Time the level takes to go from ``high - 1`` dB to ``low + 1`` dB (falling)."""
    start = np.nonzero(level_db < high - 1.0)[0][0]
    end = np.nonzero(level_db < low + 1.0)[0][0]
    return (end - start) * window_s


def max_step(x: np.ndarray) -> float:
    return 20 * np.log10(np.abs(np.diff(x, axis=0)).max() + 1e-12)


def test_pause_fades_out_and_resume_fades_in_and_restarts_the_line(session, natural_step_db):
    run(session, 4.0)                          # the first line (at 3.75 s) has begun
    line = session.timeline.voice[0]
    session.post("pause")
    fading = run(session, 1.5)
    assert session.status().paused
    level = kit.windows_db(fading, window_s=0.01)
    assert ramp_seconds(level, 0.01, level[0], -80) >= 0.3, "pause must fade over at least 0.3 s"
    assert np.abs(fading[-RATE // 2:]).max() == 0.0, "silent while paused"
    silent = run(session, 2.0)
    assert np.abs(silent).max() == 0.0
    clock_before = session.status().elapsed_s
    session.post("resume")
    back = run(session, 5.0)
    assert not session.status().paused
    rising = kit.windows_db(back[: int(0.7 * RATE)], window_s=0.01)
    assert rising[5] < rising[-1] - 6, "resume fades in"
    assert max_step(np.concatenate([fading, silent, back])) <= natural_step_db + CLICK_MARGIN_DB, "no click"
    # The interrupted line starts again from its beginning once the fade-in is done (0.7 s).
    restart = [e for e in session.timeline.voice if (e.step, e.line) == (line.step, line.line)][0]
    assert restart.start > line.start
    clip = session.mixer.clips.get(line.path)[:, 0]
    offset = restart.start - int(round(clock_before * RATE))
    window = back[max(offset - 4800, 0): offset + 4800 + len(clip) // 4, 0].astype(np.float64)
    found = int(np.argmax(np.correlate(window, clip[: len(clip) // 4].astype(np.float64), "valid")))
    assert abs(max(offset - 4800, 0) + found - offset) <= 2 * BLOCK, "the line restarts at its beginning"
    session.close()


def test_next_skips_to_the_following_step_within_a_second(session):
    run(session, 4.0)
    assert session.status().step_index == 0
    session.post("next")
    run(session, 1.0)
    status = session.status()
    assert status.step_index == 1 and status.speaking, status
    session.close()


def test_repeat_says_the_current_prompt_again(session):
    run(session, 9.0)                          # step one, its second line
    before = [e for e in session.timeline.voice if e.step == 0]
    session.post("repeat")
    run(session, 1.0)
    again = [e for e in session.timeline.voice if e.step == 0 and e.line == 0]
    assert again and again[0].start > before[0].start
    assert session.status().step_index == 0 and session.status().speaking
    session.close()


def test_extend_adds_thirty_seconds_to_the_current_hold(session):
    run(session, 12.0)                         # inside step one's hold
    total = session.status().total_s
    session.post("extend")
    run(session, 0.1)
    assert session.status().total_s == pytest.approx(total + 30.0, abs=0.01)
    session.close()


def test_volume_steps_are_ramped_decibels(tmp_path, session):
    """The gain a volume change applies, read as output / the same session without the change (the two
    render identical samples up to it, and the limiter is idle at these levels): 6 steps of -1 dB must
    reach -6 dB along a ramp, not jump there."""
    reference = build(tmp_path)
    run(session, 12.0)                         # a hold: the music alone, steady
    run(reference, 12.0)
    for _ in range(6):
        session.post("volume", -1.0)
    changed = run(session, 1.0)
    plain = run(reference, 1.0)
    loud = np.abs(plain[:, 0]) > 1e-3
    gain_db = 20 * np.log10(np.abs(changed[loud, 0]) / np.abs(plain[loud, 0]))
    when_s = np.nonzero(loud)[0] / RATE
    assert gain_db[when_s > 0.5] == pytest.approx(-6.0, abs=0.01), "the volume settles at -6 dB"
    start_s = when_s[np.argmax(gain_db < -0.5)]
    end_s = when_s[np.argmax(gain_db < -5.5)]
    assert end_s - start_s >= 0.06, f"-0.5 dB to -5.5 dB in {1000 * (end_s - start_s):.0f} ms: a jump, not a ramp"
    assert np.abs(np.diff(gain_db)).max() < 0.1, "no gain step larger than 0.1 dB between samples"
    assert session.status().volume_db == -6.0
    session.close()
    reference.close()


def test_quit_fades_out_gently_and_ends_early(session):
    run(session, 12.0)
    session.post("quit")
    tail = run(session, 10.0)
    assert session.finished and session.status().stopped_early
    assert 2.9 * RATE <= len(tail) <= 3.2 * RATE, f"quit took {len(tail) / RATE:.2f} s"
    level = kit.windows_db(tail, window_s=0.05)
    assert level[-1] < level[0] - 40
    assert np.all(np.diff(level[2:-2]) < 1.0), "the fade only goes down"
    session.close()


def test_quit_while_paused_ends_at_once(session):
    run(session, 5.0)
    session.post("pause")
    run(session, 1.5)
    assert session.status().paused
    session.post("quit")
    tail = run(session, 5.0)
    assert session.finished and session.status().stopped_early
    assert len(tail) == 0 and session.status().finished
    session.close()


def test_an_unknown_command_raises_on_the_posting_thread(session):
    with pytest.raises(ValueError, match="unknown session command 'louder'"):
        session.post("louder")


@pytest.mark.parametrize("command", list(Command))
def test_every_command_has_a_branch_in_the_session(session, command):
    """Applied directly (as render() would), each Command is acted on; one without a branch raises."""
    run(session, 4.0)
    session._apply(command, 1.0)
    run(session, 0.1)
