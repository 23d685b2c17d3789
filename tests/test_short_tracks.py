"""No hangs on short music (issue 9, class 3): tracks shorter than the crossfade, and folders of thousands of
one-second files, play; a track under MIN_TRACK_S (0.5 s) is skipped with one line. Each case runs in a
child process with a time bound: before the fix every one of them looped on decoder starts forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.measure import true_peak_db

RATE_HZ = 48_000
TIME_LIMIT_S = 60


def tone_file(path: Path, seconds: float, hz: float, rate_hz: int = RATE_HZ, channels: int = 2) -> Path:
    t = np.arange(int(round(seconds * rate_hz))) / rate_hz
    x = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    soundfile.write(path, np.repeat(x[:, None], channels, axis=1), rate_hz, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One cache for the module: the built-in music is measured once, not by every test."""
    return tmp_path_factory.mktemp("cache")


def render_ambient(tmp_path: Path, music: Path, minutes: float, cache: Path) -> tuple[subprocess.CompletedProcess, np.ndarray]:
    out = tmp_path / "out.wav"
    env = {**os.environ, "COMPANION_CACHE_DIR": str(cache),
           "COMPANION_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, "-m", "companion", "ambient", "--minutes", str(minutes),
                           "--fade-out", "5", "--music", str(music), "-o", str(out)],
                          capture_output=True, text=True, timeout=TIME_LIMIT_S, env=env)
    audio = soundfile.read(out, dtype="float32")[0] if out.exists() else np.zeros((0, 2), np.float32)
    return done, audio


def quiet_windows(audio: np.ndarray, *, skip_s: float, window_s: float = 0.25, below: float = 0.01) -> int:
    """How many ``window_s`` windows between the fade-in and the fade-out have a peak under ``below``."""
    middle = audio[int(skip_s * RATE_HZ): len(audio) - int(skip_s * RATE_HZ), 0]
    size = int(window_s * RATE_HZ)
    windows = middle[: len(middle) // size * size].reshape(-1, size)
    return int((np.abs(windows).max(axis=1) < below).sum())


def test_tracks_shorter_than_the_crossfade_play_and_a_tiny_one_is_skipped_with_one_line(tmp_path, shared_cache):
    folder = tmp_path / "music"
    folder.mkdir()
    for name, seconds, hz in [("a-tiny.wav", 0.2, 220), ("b-one.wav", 1.0, 330), ("c-almost.wav", 5.9, 440)]:
        tone_file(folder / name, seconds, hz)
    done, audio = render_ambient(tmp_path, folder, 0.25, shared_cache)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "a-tiny.wav" in line]
    assert len(warnings) == 1 and "shorter than 0.5 s" in warnings[0], done.stderr
    assert "b-one.wav" not in done.stderr and "c-almost.wav" not in done.stderr, done.stderr
    assert len(audio) == 15 * RATE_HZ
    assert quiet_windows(audio, skip_s=6) == 0, "the music must go on through the short tracks"
    assert true_peak_db(audio) < -1.0


def test_a_folder_of_a_thousand_one_second_files_plays(tmp_path, shared_cache):
    folder = tmp_path / "tiny"
    folder.mkdir()
    for i in range(1000):    # 8 kHz mono: 16 kB each, decoded and resampled like any other file
        tone_file(folder / f"tone-{i:04d}.wav", 1.0, 200 + i % 50 * 10, rate_hz=8000, channels=1)
    done, audio = render_ambient(tmp_path, folder, 0.25, shared_cache)
    assert done.returncode == 0, done.stderr
    assert len(audio) == 15 * RATE_HZ
    assert quiet_windows(audio, skip_s=6) == 0


def test_a_folder_of_only_too_short_files_falls_back_to_the_built_in_music(tmp_path, shared_cache, seconds=0.2):
    folder = tmp_path / "clicks"
    folder.mkdir()
    for i in range(3):
        tone_file(folder / f"click-{i}.wav", seconds, 300 + 100 * i)
    done, audio = render_ambient(tmp_path, folder, 0.25, shared_cache)
    assert done.returncode == 0, done.stderr
    assert "using the built-in music" in done.stderr, done.stderr
    assert len(audio) == 15 * RATE_HZ and np.abs(audio).max() > 0.01
