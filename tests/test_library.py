"""Music library: finding tracks, loudness against pyloudnorm, the SQLite cache, broken files, playlists.

Every audio file is generated here (numpy + soundfile, ffmpeg for MP3); ffmpeg and SQLite are real.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from companion.media import library
from companion.media import loudness
from companion.errors import AudioFileError, BadInputError, ToolMissingError

RATE_HZ = 48_000
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(folder))
    return folder


def tone(freq_hz: float, seconds: float, dbfs: float, rate_hz: int = RATE_HZ) -> np.ndarray:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    mono = 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq_hz * t)
    return np.stack([mono, mono], axis=1)


def soft_noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    """Noise band-limited to 200 Hz - 6 kHz: a music-like spectrum."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    noise = sosfilt(butter(4, [200, 6000], "bandpass", fs=RATE_HZ, output="sos"),
                    rng.standard_normal((int(seconds * RATE_HZ), 2)), axis=0)
    return noise * (10 ** (dbfs / 20) / np.sqrt(np.mean(noise ** 2)))


def write_wav(path: Path, signal: np.ndarray) -> Path:
    sf.write(path, signal.astype(np.float32), RATE_HZ, subtype="FLOAT")
    return path


def write_mp3(path: Path, seconds: float = 3.0, freq_hz: float = 440.0) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f={freq_hz}:d={seconds}",
                    "-b:a", "128k", "-f", "mp3", f"file:{path}"], check=True)
    return path


# ------------------------------------------------------------------------------------------ loudness

def reference_lufs(signal: np.ndarray) -> float:
    import pyloudnorm

    return pyloudnorm.Meter(RATE_HZ).integrated_loudness(signal)


@pytest.mark.parametrize("name, signal", [
    ("1 kHz at -23 dBFS", tone(1000, 12, -23)),
    ("100 Hz at -18 dBFS", tone(100, 12, -18)),
    ("4 kHz at -30 dBFS", tone(4000, 12, -30)),
    ("band-limited noise at -25 dBFS", soft_noise(12, -25)),
    ("gated: -36 / -23 / -36 dBFS (EBU 3341 case 3 style)",
     np.concatenate([tone(1000, 10, -36), tone(1000, 30, -23), tone(1000, 10, -36)])),
    ("quiet passage under the absolute gate", np.concatenate([tone(1000, 10, -20), tone(1000, 10, -90)])),
])
@pytest.mark.parametrize("reader", ["in-process", "ffmpeg at the file's rate"])
def test_file_loudness_matches_pyloudnorm_within_half_an_lu(tmp_path, monkeypatch, reader, name, signal):
    if reader != "in-process":
        monkeypatch.setattr(loudness, "_read_in_process", lambda path, full: None)
    path = write_wav(tmp_path / "signal.wav", signal)
    measured = loudness.analyse_file(path)
    expected = reference_lufs(signal)
    assert abs(measured.loudness_lufs - expected) <= 0.5, f"{name}: {measured.loudness_lufs:.2f} vs {expected:.2f}"
    assert measured.duration_s == pytest.approx(len(signal) / RATE_HZ, abs=0.01)
    assert measured.peak_db == pytest.approx(20 * np.log10(np.max(np.abs(signal))), abs=0.6), name


def test_mp3_loudness_matches_pyloudnorm_on_the_decoded_signal(tmp_path):
    path = write_mp3(tmp_path / "tone.mp3", seconds=8, freq_hz=700)
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", f"file:{path}", "-ac", "2", "-ar", "48000",
                              "-f", "f32le", "-"], capture_output=True, check=True).stdout
    signal = np.frombuffer(decoded, dtype="<f4").reshape(-1, 2).astype(np.float64)
    assert abs(loudness.analyse_file(path).loudness_lufs - reference_lufs(signal)) <= 0.5


@pytest.mark.parametrize("block_frames", [64, 1601, 16000, 10**6])
def test_meter_gives_the_same_loudness_whatever_the_block_size(block_frames):
    signal = soft_noise(6, -20)[::3]          # taken as 16 kHz material: the meter works at any rate
    whole = loudness.LoudnessMeter(16_000)
    whole.add(signal)
    blocks = loudness.LoudnessMeter(16_000)
    for start in range(0, len(signal), block_frames):
        blocks.add(signal[start:start + block_frames])
    assert blocks.integrated_lufs() == pytest.approx(whole.integrated_lufs(), abs=1e-6)


def test_a_track_shorter_than_one_gating_block_still_has_a_loudness(tmp_path):
    info = loudness.analyse_file(write_wav(tmp_path / "blip.wav", tone(1000, 0.25, -20)))
    assert info.duration_s == pytest.approx(0.25, abs=0.01)
    assert -25 < info.loudness_lufs < -15


@pytest.mark.parametrize("reader", ["in-process", "ffmpeg at the file's rate"])
def test_long_files_are_measured_on_their_opening_and_marked_partial(tmp_path, monkeypatch, reader):
    if reader != "in-process":
        monkeypatch.setattr(loudness, "_read_in_process", lambda path, full: None)
    monkeypatch.setattr(loudness, "LONG_FILE_S", 10.0)
    monkeypatch.setattr(loudness, "PARTIAL_ANALYSIS_S", 4.0)
    path = write_wav(tmp_path / "long.wav", np.concatenate([tone(1000, 8, -30), tone(1000, 12, -20)]))
    quick = library.track_info(path)
    assert quick.partial and quick.duration_s == pytest.approx(20, abs=0.05)
    assert quick.loudness_lufs == pytest.approx(-30, abs=0.5), "only the quiet opening was measured"
    complete = library.track_info(path, full=True)
    assert not complete.partial and complete.loudness_lufs > -25
    assert library.track_info(path) == complete, "the completed row replaces the partial one"


# ------------------------------------------------------------------------------------------ finding

def test_find_tracks_searches_folders_recursively_in_natural_order(tmp_path):
    for name in ["b/Track 10.flac", "b/Track 2.mp3", "a.ogg", "notes.txt", ".hidden.mp3", ".git/x.mp3",
                 "c/d/deep.WAV"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in library.find_tracks([tmp_path])]
    assert found == ["a.ogg", "b/Track 2.mp3", "b/Track 10.flac", "c/d/deep.WAV"]


def test_find_tracks_keeps_named_files_and_drops_duplicates(tmp_path):
    (tmp_path / "one.mp3").write_bytes(b"x")
    (tmp_path / "odd.bin").write_bytes(b"x")
    found = library.find_tracks([tmp_path / "odd.bin", tmp_path, tmp_path / "one.mp3"])
    assert found == [tmp_path / "odd.bin", tmp_path / "one.mp3"]


def test_a_missing_music_path_is_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="music path not found"):
        library.find_tracks([tmp_path / "nowhere"])


# ------------------------------------------------------------------------------------------ broken files

def make_corpus(folder: Path) -> tuple[set[str], set[str]]:
    """A folder of good files with awkward names and broken files; returns (good names, broken names)."""
    folder.mkdir()
    good = {"with space.mp3", "it's \"quoted\".mp3", "-leading-dash.mp3", "ñandú café 音楽.mp3", "plain.flac"}
    for name in good - {"plain.flac"}:
        write_mp3(folder / name, seconds=1.5)
    sf.write(folder / "plain.flac", tone(330, 1.0, -20).astype(np.float32), RATE_HZ)
    full = write_mp3(folder / "source.tmp", seconds=20)
    (folder / "truncated.mp3").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    (folder / "cut-to-the-header.mp3").write_bytes(full.read_bytes()[:200])
    full.unlink()
    (folder / "empty.mp3").write_bytes(b"")
    (folder / "letter.mp3").write_text("Dear therapist, this is not music.\n")
    os.mkfifo(folder / "a pipe.ogg")                         # unreadable even for root
    broken = {"truncated.mp3", "cut-to-the-header.mp3", "empty.mp3", "letter.mp3", "a pipe.ogg"}
    locked = folder / "locked.mp3"
    write_mp3(locked, seconds=1)
    locked.chmod(0)
    if os.access(locked, os.R_OK):                           # root reads it anyway: it is a good file then
        good.add("locked.mp3")
    else:
        broken.add("locked.mp3")
    return good, broken


def test_broken_files_are_skipped_with_one_warning_each(tmp_path, caplog):
    good, broken = make_corpus(tmp_path / "music")
    with caplog.at_level(logging.WARNING, logger="companion"):
        tracks = library.scan([tmp_path / "music"], full=False, warn=True).tracks
    assert {t.path.name for t in tracks} == good
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(broken), warnings
    for name in broken:
        assert sum(name in w for w in warnings) == 1, f"one warning naming {name!r}: {warnings}"
    assert all("\n" not in w for w in warnings)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"plain text, not audio\n" * 20, "not audio"),
])
def test_broken_file_errors_name_the_file_and_why(tmp_path, content, reason):
    path = tmp_path / "bad track.mp3"
    path.write_bytes(content)
    with pytest.raises(AudioFileError) as caught:
        library.track_info(path)
    assert str(path) in str(caught.value) and reason in str(caught.value)


def test_a_truncated_mp3_is_reported_as_truncated(tmp_path):
    full = write_mp3(tmp_path / "full.mp3", seconds=20)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(AudioFileError, match="truncated"):
        library.track_info(cut)


def test_missing_ffmpeg_says_how_to_install_it(tmp_path, monkeypatch):
    path = write_mp3(tmp_path / "ok.mp3", seconds=1)          # mp3 always goes through ffmpeg
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ToolMissingError, match="ffmpeg") as caught:
        library.track_info(path)
    assert "install-system.sh" in str(caught.value)


# ------------------------------------------------------------------------------------------ cache

def count_analyses(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = loudness.analyse_file

    def counting(path, **kwargs):
        calls.append(Path(path))
        return real(path, **kwargs)

    monkeypatch.setattr(loudness, "analyse_file", counting)
    return calls


def test_cache_hits_until_the_file_changes(tmp_path, monkeypatch, cache_dir):
    calls = count_analyses(monkeypatch)
    path = write_wav(tmp_path / "track.wav", tone(440, 2, -20))
    first = library.track_info(path)
    assert library.track_info(path) == first and len(calls) == 1, "second look-up is a cache hit"
    assert (cache_dir / "library.sqlite").is_file()

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    library.track_info(path)
    assert len(calls) == 2, "a new mtime means a new measurement"

    write_wav(path, tone(440, 3, -30))                       # new size and content
    changed = library.track_info(path)
    assert len(calls) == 3 and changed.duration_s == pytest.approx(3, abs=0.01)
    assert changed.loudness_lufs < first.loudness_lufs - 5


def test_broken_verdicts_are_cached_too(tmp_path, monkeypatch):
    calls = count_analyses(monkeypatch)
    path = tmp_path / "letter.mp3"
    path.write_text("not music\n" * 50)
    for _ in range(3):
        with pytest.raises(AudioFileError, match="not audio"):
            library.track_info(path)
    assert len(calls) == 1


def test_rescanning_a_thousand_unchanged_files_decodes_none_of_them(tmp_path, monkeypatch):
    # (How long it takes is scripts/bench_library.py's job: 'music scan, 1000 files, warm'.)
    folder = tmp_path / "big"
    for index in range(1000):
        sub = folder / f"album {index // 100}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"track {index}.mp3").write_bytes(index.to_bytes(4, "little"))
    monkeypatch.setattr(loudness, "analyse_file",
                        lambda path, full=False: loudness.Analysis(60.0, -20.0, -3.0, False))
    cold = library.scan([folder])
    assert cold.analysed == 1000
    monkeypatch.setattr(loudness, "analyse_file", lambda *a, **k: pytest.fail("warm scan decoded a file"))
    warm = library.scan([folder])
    assert warm.cached == 1000 and warm.analysed == 0 and len(warm.tracks) == 1000


def test_builtin_tracks_use_the_manifest_instead_of_decoding(tmp_path, monkeypatch):
    music = tmp_path / "music"
    music.mkdir()
    (music / "river.ogg").write_bytes(b"OggS")                 # content irrelevant: never decoded
    (music / "manifest.json").write_text(
        '{"tracks": [{"file": "river.ogg", "duration_s": 301.5, "loudness_lufs": -23.2, "peak_db": -4.0}]}')
    monkeypatch.setattr(library, "_builtin_music_dir", lambda: music)
    monkeypatch.setattr(loudness, "analyse_file", lambda *a, **k: pytest.fail("decoded a built-in track"))
    [track] = library.builtin_tracks()
    info = library.track_info(track)
    assert (info.duration_s, info.loudness_lufs, info.peak_db) == (301.5, -23.2, -4.0)


# ------------------------------------------------------------------------------------------ playlists

@pytest.mark.parametrize("count", [2, 3, 5, 12])
def test_shuffle_never_plays_a_track_twice_in_a_row(count):
    tracks = [Path(f"/music/{i}.mp3") for i in range(count)]
    for seed in range(300):
        order = list(islice(library.playlist(tracks, seed=seed), count * 8))
        assert all(a != b for a, b in zip(order, order[1:])), f"seed {seed}: {order}"
        for start in range(0, len(order), count):
            assert sorted(order[start:start + count]) == sorted(tracks), "each round plays every track once"


def test_shuffle_is_repeatable_by_seed_and_varies_between_seeds():
    tracks = [Path(f"/music/{i}.mp3") for i in range(8)]
    assert list(islice(library.playlist(tracks, seed=7), 30)) == list(islice(library.playlist(tracks, seed=7), 30))
    assert len({tuple(islice(library.playlist(tracks, seed=s), 8)) for s in range(10)}) > 5


def test_name_order_loops_and_a_single_track_repeats():
    tracks = [Path("/m/a.mp3"), Path("/m/b.mp3"), Path("/m/c.mp3")]
    assert list(islice(library.playlist(tracks, seed=1, shuffle=False), 7)) == (tracks * 3)[:7]
    assert list(islice(library.playlist(tracks[:1], seed=1), 4)) == tracks[:1] * 4
    with pytest.raises(BadInputError):
        next(library.playlist([], seed=0))


# ------------------------------------------------------------------------------------------ command line

def test_music_scan_summarises_and_lists_skipped_files(tmp_path):
    from click.testing import CliRunner

    from companion.cli import main

    folder = tmp_path / "music"
    folder.mkdir()
    write_wav(folder / "quiet.wav", tone(1000, 1, -30))
    write_wav(folder / "loud.wav", tone(1000, 1, -12))
    (folder / "letter.mp3").write_text("not music\n" * 10)
    result = CliRunner().invoke(main, ["music", "scan", str(folder)])
    assert result.exit_code == 0, result.output
    assert "3 files: 2 playable (2 measured now), 1 skipped (cannot decode)." in result.output
    assert "Loudness -30.0 to -12.0 LUFS" in result.output
    assert f"Warning: skipped {folder / 'letter.mp3'}: cannot decode" in result.output
    write_wav(folder / "new.wav", tone(1000, 1, -20))
    (folder / "empty.ogg").write_bytes(b"")
    again = CliRunner().invoke(main, ["music", "scan", str(folder)])
    assert "5 files: 3 playable (1 measured now, 2 from the cache), 2 skipped (1 cannot decode, 1 empty file)." \
        in again.output, "each file counted once: 3 + 2 = 5"


def test_music_scan_without_paths_uses_the_settings_file(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from companion.cli import main

    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(tmp_path / "config"))
    result = CliRunner().invoke(main, ["music", "scan"])
    assert result.exit_code == 2 and "no music to scan" in result.output
    (tmp_path / "config").mkdir(mode=0o700)      # private, as companion makes it
    (tmp_path / "config" / "config.toml").write_text('music = "../tunes"\n')
    (tmp_path / "tunes").mkdir()
    write_wav(tmp_path / "tunes" / "a.wav", tone(440, 1, -20))
    result = CliRunner().invoke(main, ["music", "scan"])
    assert result.exit_code == 0 and "1 file: 1 playable (1 measured now)." in result.output
