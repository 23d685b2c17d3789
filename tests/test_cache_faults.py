"""Class 6 of issue 9: a broken music cache never costs the user their music.

Generated caches: garbage bytes, a real cache cut in half, a folder where the file should be, one that
cannot be opened (mode 000 for a normal user; a symlink loop for root, whom modes do not stop), one held
under an exclusive lock by another process, and a cache folder that cannot be created. Each time the
track is still measured right (loudness judged by pyloudnorm), with exactly one warning; a broken cache
is moved aside under a dated name and a working one takes its place.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyloudnorm
import pytest

from companion.media import library, track_cache
from tests import sessionkit as kit


@pytest.fixture
def song(tmp_path) -> Path:
    return kit.write(tmp_path / "music" / "song.wav", kit.tone(8.0, 440.0, -24.0))


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(folder))
    monkeypatch.setattr(track_cache, "_connections", {})
    monkeypatch.setattr(track_cache, "_notes", [])
    return folder / track_cache.CACHE_FILE


def expected_lufs(song: Path) -> float:
    import soundfile

    audio, rate = soundfile.read(str(song))
    return pyloudnorm.Meter(rate).integrated_loudness(audio)


def measure_with_warnings(song: Path, caplog) -> tuple[library.TrackInfo, list[str]]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="companion"):
        info = library.track_info(song)
    return info, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def make_real_cache(cache: Path, tmp_path: Path) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)    # private, as companion makes it
    conn = sqlite3.connect(cache)
    conn.execute(track_cache._SCHEMA)
    conn.executemany("INSERT INTO tracks VALUES (?, 1, 1, 2, 1.0, -20.0, -3.0, 0, NULL, 0)",
                     [(str(tmp_path / f"other-{i}.wav"),) for i in range(2000)])
    conn.commit()
    conn.close()


def break_cache(kind: str, cache: Path, tmp_path: Path) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)    # private, as companion makes it
    if kind == "garbage":
        cache.write_bytes(os.urandom(8192))
    elif kind == "half-truncated":
        make_real_cache(cache, tmp_path)
        size = cache.stat().st_size
        with open(cache, "r+b") as handle:
            handle.truncate(size // 2)
    elif kind == "a-folder":
        (cache / "inside").mkdir(parents=True)
    elif kind == "unopenable":
        if os.geteuid() == 0:
            os.symlink(cache.name, cache)       # a link to itself: ELOOP, for root too
        else:
            make_real_cache(cache, tmp_path)
            cache.chmod(0)


@pytest.mark.parametrize("kind", ["garbage", "half-truncated", "a-folder", "unopenable"])
def test_a_broken_cache_is_moved_aside_and_rebuilt_with_one_warning(kind, song, cache, tmp_path, caplog):
    break_cache(kind, cache, tmp_path)
    info, warnings = measure_with_warnings(song, caplog)
    assert info.loudness_lufs == pytest.approx(expected_lufs(song), abs=0.5)
    assert len(warnings) == 1 and "moved it to library.sqlite.broken-" in warnings[0], warnings
    assert len(list(cache.parent.glob("library.sqlite.broken-*"))) == 1
    rows = sqlite3.connect(cache).execute("SELECT path FROM tracks").fetchall()
    assert rows == [(str(song.resolve()),)], "the new cache holds what was measured"
    again, warnings = measure_with_warnings(song, caplog)
    assert again == info and warnings == []


def test_a_locked_cache_is_waited_for_a_bounded_time_then_bypassed(song, cache, tmp_path, caplog):
    make_real_cache(cache, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(cache)!r}, isolation_level=None)\n"
         "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE')\n"
         "c.execute('INSERT INTO tracks VALUES (\"x\", 1, 1, 2, 1, 1, 1, 0, NULL, 0)')\n"
         "print('locked', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        info, warnings = measure_with_warnings(song, caplog)
        waited_s = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert info.loudness_lufs == pytest.approx(expected_lufs(song), abs=0.5)
    assert len(warnings) == 1 and "locked by another program (waited 2 s)" in warnings[0], warnings
    assert 1.5 < waited_s < 2.0 + 3.0, f"waited {waited_s:.1f} s (2 s for the lock, then the measuring)"
    assert not list(cache.parent.glob("*.broken-*")), "a locked cache is not broken: left where it is"


def test_a_cache_folder_that_cannot_be_made_means_measuring_in_memory(song, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder's parent should be")
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(track_cache, "_connections", {})
    monkeypatch.setattr(track_cache, "_notes", [])
    info, warnings = measure_with_warnings(song, caplog)
    assert info.loudness_lufs == pytest.approx(expected_lufs(song), abs=0.5)
    assert len(warnings) == 1 and "measuring music in memory" in warnings[0], warnings
    assert library.track_info(song) == info, "measured once, then answered from memory"


def test_the_cache_folder_is_made_private(song, cache, tmp_path):
    library.track_info(song)
    for level in (cache.parent,):
        assert stat.S_IMODE(level.stat().st_mode) == 0o700, oct(level.stat().st_mode)


def test_music_scan_reports_a_broken_cache_and_still_scans(song, tmp_path):
    cache_dir = tmp_path / "scan-cache"
    cache_dir.mkdir(mode=0o700)          # as companion makes it (a loose one is tightened with a warning)
    (cache_dir / track_cache.CACHE_FILE).write_bytes(b"not a database at all" * 100)
    result = subprocess.run([sys.executable, "-m", "companion", "music", "scan", str(song.parent)],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COMPANION_CACHE_DIR": str(cache_dir)})
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("Warning: the music cache") \
        and "moved it to library.sqlite.broken-" in warnings[0], result.stderr
    assert "1 playable" in result.stdout
