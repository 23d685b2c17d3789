"""Honest limits (issue 9, class 7): the loudness-matching boost limit is stated and the tracks past it named;
`routines check` refuses a routine longer than 8 hours, and clip or music paths that are not audio,
naming file, step and key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from companion.cli import main
from companion.mix.playlist import MAX_BOOST_DB
from companion.mix.preflight import MAX_ROUTINE_S


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))


def tone(path: Path, amplitude: float, seconds: float = 3.0) -> Path:
    t = np.arange(int(seconds * 48_000)) / 48_000
    soundfile.write(path, amplitude * np.sin(2 * np.pi * 440 * t), 48_000)
    return path


def one_error_line(result, *words: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_music_scan_states_the_boost_limit_and_names_the_tracks_past_it(tmp_path):
    quiet = tone(tmp_path / "whisper.wav", 0.001)      # about -61 LUFS: 41 dB under -20
    loud_enough = tone(tmp_path / "calm.wav", 0.1)     # about -21 LUFS
    result = CliRunner().invoke(main, ["music", "scan", str(quiet), str(loud_enough)])
    assert result.exit_code == 0, result.output
    limit = [line for line in result.stdout.splitlines() if "at most" in line]
    assert len(limit) == 1 and f"+{MAX_BOOST_DB:g} dB" in limit[0], result.stdout
    assert "whisper.wav" in limit[0] and "calm.wav" not in limit[0], limit


def routine(tmp_path: Path, steps: str, session: str = "") -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(f'name = "Mine"\n[session]\nmusic = "none"\n{session}{steps}', encoding="utf-8")
    return path


def test_a_routine_longer_than_8_hours_is_refused(tmp_path):
    holds = int(MAX_ROUTINE_S // (3 * 3600)) + 1         # 3-hour holds, one more than fits
    steps = "".join(f'[[steps]]\nid = "s{i}"\ntitle = "Rest"\nhold = "3:00:00"\n' for i in range(holds))
    one_error_line(CliRunner().invoke(main, ["routines", "check", str(routine(tmp_path, steps))]),
                   "mine.toml", "8 hours")
    fits = "".join(f'[[steps]]\nid = "s{i}"\ntitle = "Rest"\nhold = "3:00:00"\n' for i in range(holds - 1))
    assert CliRunner().invoke(main, ["routines", "check", str(routine(tmp_path, fits))]).exit_code == 0


@pytest.mark.parametrize("jaw, key", [
    ('lines = ["Rest.", { text = "Open.", clip = "notes.txt" }]\nhold = 5\n', "lines[2].clip"),
    ('lines = ["Rest."]\nhold = 5\nhold_cues = [{ at = 1, text = "Open.", clip = "notes.txt" }]\n', "hold_cues[1].clip"),
])
def test_a_clip_that_is_not_audio_names_file_step_and_key(tmp_path, jaw, key):
    (tmp_path / "notes.txt").write_text("these are my notes, not a recording\n" * 20)
    steps = ('[[steps]]\nid = "breathe"\ntitle = "Breathe"\nhold = 5\n'
             '[[steps]]\nid = "jaw"\ntitle = "Jaw"\n' + jaw)
    one_error_line(CliRunner().invoke(main, ["routines", "check", str(routine(tmp_path, steps))]),
                   "mine.toml", "step 2 ('jaw')", key, "notes.txt", "not an audio file")


@pytest.mark.parametrize("entry, words", [
    ("notes.txt", "not an audio file"),
    ("empty-folder", "holds no audio files"),
    ("gone.flac", "not found"),
])
def test_session_music_paths_are_validated(tmp_path, entry, words):
    (tmp_path / "notes.txt").write_text("not music\n" * 50)
    (tmp_path / "empty-folder").mkdir()
    steps = '[[steps]]\nid = "one"\ntitle = "One"\nhold = 5\n'
    path = routine(tmp_path, steps).read_text().replace('music = "none"', f'music = ["{entry}"]')
    (tmp_path / "mine.toml").write_text(path)
    one_error_line(CliRunner().invoke(main, ["routines", "check", str(tmp_path / "mine.toml")]),
                   "mine.toml", "session.music", entry, words)
