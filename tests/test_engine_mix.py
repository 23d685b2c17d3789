"""The engine's sound, measured: block-size invariance, onsets, ducking, fades, loudness, true peak."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from companion import dsp
from companion.mix.assemble import build_session
from companion.plan.routine import DEFAULT_DUCK_DB, load_routine
from companion.plan.timeline import DUCK_LEAD_S, DUCK_RELEASE_S
from tests import measure, sessionkit as kit

RATE = kit.RATE


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def material(tmp_path):
    return kit.make_material(tmp_path)


def session_for(folder, music, prefix="v", **session):
    sources = ["none"] if music == "none" else [str(folder / music)]
    return build_session(load_routine(kit.three_steps(folder, prefix, **session)), music=sources, seed=3)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple:
    """The material and its render in 48,000-frame blocks, made once for the block-size tests below
    (each test renders its own session from the same files and seed, with a cache of its own)."""
    folder = kit.make_material(tmp_path_factory.mktemp("block-sizes"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPANION_CACHE_DIR", str(folder / "reference-cache"))
        return folder, kit.render_all(session_for(folder, "noise"), 48_000)


@pytest.mark.parametrize("block", [64, 65, 1024, 8193])
def test_any_block_size_gives_the_same_samples(reference, block):
    material, reference = reference
    other = kit.render_all(session_for(material, "noise"), block)
    assert other.shape == reference.shape
    np.testing.assert_allclose(other, reference, rtol=0, atol=1e-6)


def test_single_frame_blocks_across_an_onset_give_the_same_samples(reference):
    material, reference = reference
    session = session_for(material, "noise")
    onset = session.timeline.voice[0].start
    # Big blocks up to 0.05 s before the first word, then 4,800 single frames, then big blocks again.
    first = np.zeros((onset - 2400, 2), np.float32)
    session.render(first)
    one = np.zeros((1, 2), np.float32)
    singles = []
    for _ in range(4800):
        session.render(one)
        singles.append(one.copy())
    rest = kit.render_all(session, 48_000)
    joined = np.concatenate([first, *singles, rest])
    np.testing.assert_allclose(joined, reference, rtol=0, atol=1e-6)


def test_clips_start_on_their_planned_frame(material):
    session = session_for(material, "none")
    planned = [event.start for event in session.timeline.voice]
    out = kit.render_all(session)
    for event_start, index in zip(planned, range(4)):
        clip = dsp.resample(kit.speechlike(kit.CLIP_SECONDS[index], seed=index)[:, None], 24_000, RATE)[:, 0]
        window = out[event_start - 2000: event_start + len(clip) + 2000, 0].astype(np.float64)
        # by FFT: np.correlate's direct sum over 4,001 lags of a 2-3 s clip made this test 4-5x slower
        correlation = signal.correlate(window, clip.astype(np.float64), mode="valid", method="fft")
        found = event_start - 2000 + int(np.argmax(correlation))
        assert found == event_start, f"clip {index} starts at frame {found}, planned {event_start}"
    # The first word waits for the fade-in to be three-quarters done: 0.75 x 5 s.
    assert planned[0] == int(0.75 * 5 * RATE)


def test_music_ducks_by_the_default_depth_starting_before_the_first_word_and_returns_slowly(material):
    # Silent clips and no chimes: the output is the music alone.
    session = session_for(material, "music", prefix="s", chimes=False)
    timeline = session.timeline
    out = kit.render_all(session)
    level = kit.windows_db(out, window_s=0.01)
    span = timeline.ducks[1]  # the second step's narration: the music is at its level before it (a hold)
    hold = timeline.steps[0]
    up = np.median(level[int(hold.hold_start / RATE * 100) + 200: int(hold.hold_end / RATE * 100)])
    down = np.median(level[int(span.start / RATE * 100) + 5: int(span.end / RATE * 100) - 5])
    assert down - up == pytest.approx(-DEFAULT_DUCK_DB, abs=1.0), f"duck depth {down - up:.2f} dB"
    # Lead: the level starts to fall (first 0.1 dB) about 0.5 s before the first word.
    before = level[int(hold.hold_end / RATE * 100): int(span.start / RATE * 100)]
    falling = hold.hold_end / RATE + np.nonzero(before > up - 0.1)[0][-1] / 100.0
    lead_s = span.start / RATE - falling
    assert lead_s == pytest.approx(DUCK_LEAD_S, abs=0.06), f"duck lead {lead_s:.3f} s"
    # Release: from 0.5 dB above the ducked level to -0.5 dB takes at least 0.8 s (raised cosine over 1.2 s).
    after = level[int(span.end / RATE * 100):]
    start = np.nonzero(after > down + 0.5)[0][0]
    back = np.nonzero(after > up - 0.5)[0][0]
    release_s = (back - start) / 100.0
    assert release_s >= 0.8, f"duck release {release_s:.2f} s"
    assert release_s <= DUCK_RELEASE_S + 0.05


def test_session_fades_in_and_out_along_raised_cosines(material):
    session = session_for(material, "music", prefix="s", chimes=False)
    timeline = session.timeline
    out = kit.render_all(session)
    level = kit.windows_db(out, window_s=0.05)
    hold = timeline.steps[0]
    full = np.median(level[int(hold.hold_start / RATE / 0.05) + 40: int(hold.hold_end / RATE / 0.05)])
    assert level[0] < full - 30, "the session must start from near silence"
    # Half-way through the 5 s raised-cosine fade-in the gain is 0.5 (-6 dB); the first word comes at 3.75 s.
    mid_in = level[int(2.5 / 0.05)]
    assert mid_in - full == pytest.approx(-6.0, abs=1.0), "half-way through a raised-cosine fade: -6 dB"
    fade_out_s = (timeline.end - timeline.fade_out_start) / RATE
    assert fade_out_s >= 15.0
    mid_out = level[int((timeline.fade_out_start / RATE + fade_out_s / 2) / 0.05)]
    assert mid_out - full == pytest.approx(-6.0, abs=1.0)
    assert kit.windows_db(out[-RATE // 10:], window_s=0.1)[0] < full - 40, "ends in near silence"
    assert len(out) == timeline.end


def test_loudness_meets_the_target_and_the_voice_stands_over_the_music(material):
    routine = load_routine(kit.three_steps(material, "v"))
    out = kit.render_all(build_session(routine, music=[str(material / "noise")], seed=1))
    integrated = pyloudnorm.Meter(RATE).integrated_loudness(out.astype(np.float64))
    assert integrated == pytest.approx(-20.0, abs=1.0), f"integrated loudness {integrated:.2f} LUFS"
    # Same plan, voice alone and music alone (chimes are neither): loudness while each line is spoken.
    silent = load_routine(kit.three_steps(material, "s", chimes=False))
    spoken = load_routine(kit.three_steps(material, "v", chimes=False))
    music_only = kit.render_all(build_session(silent, music=[str(material / "noise")], seed=1))
    voice_only = kit.render_all(build_session(spoken, music=["none"], seed=1))
    session = build_session(spoken, music=["none"], seed=1)
    for event in session.timeline.voice:
        a, b = event.start, event.end
        voice = pyloudnorm.Meter(RATE).integrated_loudness(voice_only[a:b].astype(np.float64))
        music = pyloudnorm.Meter(RATE).integrated_loudness(music_only[a:b].astype(np.float64))
        assert voice - music >= 15.0, f"voice {voice:.1f} vs music {music:.1f} LUFS at {a / RATE:.1f} s"
    session.close()


def test_a_hot_mix_stays_under_minus_1_dbfs_true_peak(material, tmp_path):
    kit.write(tmp_path / "hot" / "square.wav", np.clip(kit.tone(30.0, 3000.0, 0.0) * 4, -1, 1) * 0.99)
    routine = load_routine(kit.three_steps(material, "v", loudness_lufs=-10))
    out = kit.render_all(build_session(routine, music=[str(tmp_path / "hot")], seed=1))
    peak = measure.true_peak_db(out)
    assert peak <= -1.0, f"true peak {peak:.2f} dBFS"
    assert np.abs(out).max() > 10 ** (-4 / 20), "the test must actually drive the limiter"


def test_a_long_recorded_clip_plays_to_its_end(tmp_path):
    # 12 minutes of narration in one clip (a recorded talk): it must sound until its last second.
    kit.write(tmp_path / "clips" / "talk.wav", kit.tone(720.0, 300.0, -20.0, rate=8000, channels=1), 8000)
    routine = load_routine(kit.routine_file(tmp_path, [{"id": "talk", "clips": ["clips/talk.wav"], "hold": 1}],
                                            session={"fade_in_s": 5, "fade_out_s": 15}))
    session = build_session(routine, music=["none"], rate_hz=8000)
    event = session.timeline.voice[0]
    out = kit.render_all(session, 8000 * 10)
    last_second = out[event.end - 2 * 8000: event.end - 8000]
    assert kit.windows_db(last_second, rate=8000, window_s=1.0)[0] > -30.0, "the clip's end is silent"
