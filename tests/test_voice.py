"""companion.narration.voicing: which file speaks each line, the run-time synthesis cache, and the no-voice error.

The espeak-ng path runs the real program (skipped with the reason when it is not installed); the cache
lives in a temporary XDG_CACHE_HOME. Clips are measured (length, edges, loudness) with stated tolerances.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from companion.narration import synthesis
from companion.narration import voicing
from companion.errors import BadInputError, ExitCode
from companion.plan.routine import Line, load_routine, parse_routine

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
NEW_LINES = ["Rest one palm on your chest.", "Let the other hand rest on your belly. Breathe slowly."]


def routine_with(lines, tmp_path=None):
    data = {"name": "Test", "steps": [{"id": "one", "title": "One", "lines": lines, "hold": 10}]}
    return parse_routine(data, source=(tmp_path / "r.toml") if tmp_path else None)


def tone_file(path, seconds=1.0, rate=24_000):
    t = np.arange(int(seconds * rate)) / rate
    audio = 0.1 * np.sin(2 * np.pi * 220 * t) * np.minimum(1, np.minimum(t, t[::-1]) / 0.01)
    sf.write(path, audio.astype(np.float32), rate)
    return path


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPANION_CACHE_DIR", raising=False)   # this test reads the XDG default
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "companion" / "voice"


@pytest.fixture
def espeak_only(monkeypatch):
    monkeypatch.setattr(synthesis, "engine_installed", lambda name=synthesis.DEFAULT_ENGINE: False)


@pytest.fixture
def no_voice(monkeypatch, espeak_only):
    real_which = shutil.which
    monkeypatch.setattr(voicing.shutil, "which", lambda name, *a, **k: None if name == "espeak-ng" else real_which(name))


def test_builtin_lines_use_shipped_clips_and_synthesize_nothing(private_cache, no_voice):
    routine = load_routine("head-and-neck")
    files = voicing.line_audio(routine)
    assert len(files) == sum(len(step.spoken) for step in routine.steps)
    assert all(path.suffix == ".opus" and path.is_file() for path in files.values())
    assert files[(0, 0)] == voicing.shipped_clip(routine.steps[0].lines[0].text)
    assert voicing.missing_lines(routine) == []
    assert not private_cache.exists(), "nothing may be synthesized for a built-in routine"


def test_a_recorded_clip_is_used_as_given(tmp_path, no_voice):
    clip = tone_file(tmp_path / "mine.wav")
    routine = routine_with([{"text": "Anything at all.", "clip": "mine.wav"}, {"clip": "mine.wav"}], tmp_path)
    assert voicing.line_audio(routine) == {(0, 0): clip.resolve(), (0, 1): clip.resolve()}
    assert voicing.missing_lines(routine) == []


def test_no_voice_names_the_lines_and_how_to_get_one(no_voice):
    routine = routine_with(["Welcome. This is a relaxation aid.", *NEW_LINES])
    missing = voicing.missing_lines(routine)
    assert missing == [f"step 1 ('One') line {i}: \"{text}\"" for i, text in ((2, NEW_LINES[0]), (3, NEW_LINES[1]))]
    with pytest.raises(BadInputError) as caught:
        voicing.line_audio(routine)
    message = str(caught.value)
    assert "no voice for 2 lines" in message and NEW_LINES[0] in message and NEW_LINES[1] in message
    assert "reinstall companion" in message and "apt-get install espeak-ng" in message
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert voicing.cue_audio("A cue nobody recorded.") is None


@needs_espeak
def test_espeak_voices_new_lines_into_the_cache_once(private_cache, espeak_only, monkeypatch):
    routine = routine_with(["Welcome. This is a relaxation aid.", *NEW_LINES])
    assert voicing.missing_lines(routine) == []
    assert voicing.lines_to_synthesize(routine) == 2
    calls = []
    files = voicing.line_audio(routine, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    assert files[(0, 0)].suffix == ".opus", "the shipped clip still wins"
    made = [files[(0, 1)], files[(0, 2)]]
    for path, text in zip(made, NEW_LINES):
        assert path.parent == private_cache
        assert path.name == f"espeak-ng-en-us-140-{synthesis.text_sha256(text)}.wav"
        audio, rate = sf.read(path, dtype="float64")
        words_per_min = len(text.split()) / (len(audio) / rate) * 60
        assert 60 <= words_per_min <= 200, f"{words_per_min:.0f} words/min"
        edge = int(0.002 * rate)                     # inside the 10 ms fade
        assert np.abs(audio[:edge]).max() < 0.05 and np.abs(audio[-edge:]).max() < 0.05
        loudness = pyloudnorm.Meter(rate).integrated_loudness(audio)
        assert -23.0 <= loudness <= -19.0, f"{loudness:.1f} LUFS (target -20; quieter only if peak-limited)"
        assert 20 * np.log10(np.abs(audio).max()) <= -0.9
    assert sorted(p.name for p in private_cache.iterdir()) == sorted(p.name for p in made), "no temp files left"

    def refuse(*args, **kwargs):
        raise AssertionError("espeak-ng ran again for a cached line")

    monkeypatch.setattr(subprocess, "run", refuse)
    assert voicing.line_audio(routine) == files
    assert voicing.lines_to_synthesize(routine) == 0


@needs_espeak
def test_an_unwritable_voice_cache_warns_once_and_every_line_is_still_spoken(tmp_path, espeak_only, monkeypatch,
                                                                            caplog):
    """A cache folder that cannot be made (a file stands where it would go; root ignores mode bits):
    one warning, and the lines are synthesized into a private folder kept for this process only."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(blocked / "cache"))
    monkeypatch.setattr(voicing, "_process_voice_dir", None, raising=False)   # as in a new process
    routine = routine_with(NEW_LINES)
    with caplog.at_level(logging.WARNING, logger="companion"):
        files = voicing.line_audio(routine)
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "cache" in r.getMessage()]
    assert len(warned) == 1 and "cannot write the voice cache" in warned[0], warned
    kept = voicing._process_voice_dir
    assert kept is not None and (kept.stat().st_mode & 0o777) == 0o700
    for path, text in zip(files.values(), NEW_LINES):
        assert path.parent == kept
        audio, rate = sf.read(path, dtype="float64")
        assert len(audio) / rate >= 0.2 * len(text.split()), f"{path.name}: {len(audio) / rate:.2f} s"


@needs_espeak
def test_cached_lines_keep_their_voice_when_no_engine_is_left(espeak_only, monkeypatch):
    routine = routine_with(NEW_LINES[:1])
    first = voicing.line_audio(routine)
    real_which = shutil.which
    monkeypatch.setattr(voicing.shutil, "which", lambda name, *a, **k: None if name == "espeak-ng" else real_which(name))
    assert voicing.missing_lines(routine) == []
    assert voicing.line_audio(routine) == first


@needs_espeak
def test_cue_audio_prefers_the_shipped_clip_then_synthesizes(espeak_only):
    shipped = voicing.cue_audio("Take your time coming back.")
    assert shipped is not None and shipped.suffix == ".opus"
    made = voicing.cue_audio("Two more breaths, then rest.")
    assert made is not None and made.name.startswith("espeak-ng-") and sf.info(str(made)).duration > 0.5


def test_an_espeak_failure_is_one_clear_error(espeak_only, monkeypatch):
    failing = shutil.which("false")
    monkeypatch.setattr(voicing.shutil, "which", lambda name, *a, **k: failing if name == "espeak-ng" else None)
    with pytest.raises(voicing.CompanionError, match="espeak-ng failed on 'Rest one palm"):
        voicing.line_audio(routine_with(NEW_LINES[:1]))


def test_the_default_engine_voices_new_lines_like_the_shipped_clips(private_cache):
    routine = routine_with(NEW_LINES[1:])
    path = voicing.line_audio(routine)[(0, 0)]
    assert path.name.startswith(synthesis.load_engine().id)
    audio, rate = sf.read(path, dtype="float64")
    assert rate == 24_000
    words_per_min = len(NEW_LINES[1].split()) / (len(audio) / rate) * 60
    assert 90 <= words_per_min <= 150, f"{words_per_min:.0f} words/min including the sentence pause"
    loudness = pyloudnorm.Meter(rate).integrated_loudness(audio)
    assert abs(loudness + 20.0) <= 1.5, f"{loudness:.1f} LUFS"


def test_a_users_slow_routine_synthesizes_its_own_lines_at_the_slow_pace(private_cache):
    """``pace = "slow"`` in a user's routine: its new lines are spoken by the slow delivery (its own cache
    entry), measurably slower than the same line at the normal pace, and its built-in lines use the
    shipped slow clips."""
    line = "Let the other hand rest on your belly, and let your shoulders go heavy."
    normal = routine_with([line])
    slow = replace(normal, options=replace(normal.options, pace="slow"))
    paths = {pace: voicing.line_audio(routine)[(0, 0)] for pace, routine in (("normal", normal), ("slow", slow))}
    assert paths["slow"].name.startswith(synthesis.load_engine(pace="slow").id), paths["slow"].name
    seconds = {pace: sf.info(str(path)).duration for pace, path in paths.items()}
    assert seconds["slow"] >= 1.15 * seconds["normal"], seconds
    builtin = load_routine("wind-down").steps[0].lines[0].text
    shipped = voicing.line_audio(replace(slow, steps=(replace(slow.steps[0], lines=(Line(builtin),)),)))[(0, 0)]
    assert shipped.name.endswith("-slow.opus"), shipped.name


def test_text_hash_ignores_spacing_only():
    assert synthesis.text_sha256(" Let  go.\n") == synthesis.text_sha256("Let go.")
    assert synthesis.text_sha256("Let go.") != synthesis.text_sha256("Let go!")


def test_split_sentences_and_estimates():
    assert synthesis.split_sentences("One. Two? Three!  Four") == ["One.", "Two?", "Three!", "Four"]
    assert synthesis.estimated_seconds("one two three four five six seven eight nine ten. Eleven twelve thirteen.") \
        == pytest.approx(13 * 60 / 130 + synthesis.SENTENCE_PAUSE_S)


def test_trim_silence_keeps_the_sound_and_small_margins():
    rate = 24_000
    tone = 0.3 * np.sin(2 * np.pi * 200 * np.arange(rate) / rate)
    padded = np.concatenate([np.zeros(rate), tone, np.zeros(2 * rate)]).astype(np.float32)
    trimmed = synthesis.trim_silence(padded, rate)
    assert abs(len(trimmed) / rate - (1.0 + 0.03 + 0.12)) < 0.015, len(trimmed) / rate


def test_a_broken_engine_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(synthesis, "engine_installed", lambda name=synthesis.DEFAULT_ENGINE: True)

    def broken(engine, text):
        raise ImportError("libonnxruntime.so: cannot open shared object file")

    monkeypatch.setattr(synthesis, "speak", broken)
    with pytest.raises(voicing.CompanionError, match=r"voice engine \(hibari-.*\) failed on 'Rest one palm.*libonnx"):
        voicing.line_audio(routine_with(NEW_LINES[:1]))
