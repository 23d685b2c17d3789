"""Music library: find audio files, know each one's loudness and length, and order them into a playlist.

- ``find_tracks(paths)``: files and folders (searched recursively, audio by extension, natural name order).
- ``track_info(path)``: duration, integrated loudness (BS.1770, see ``companion.media.loudness``) and peak,
  measured once per file and cached (``companion.media.track_cache``), keyed by the resolved path, size
  and mtime_ns: change the file and it is measured again. Broken files raise AudioFileError with one line
  naming the file and why; that verdict is cached too, so a re-scan does not decode them again.
- Files longer than 20 minutes that are not cached yet are measured on their first 5 minutes only, so a
  10-hour track is usable at once; the row is marked partial and ``companion music scan`` (or
  ``track_info(path, full=True)``) completes it.
- ``playlist(tracks, seed=...)``: endless, shuffled per round by ``seed`` (or in the given order), never
  the same track twice in a row, looping when the session outlives it.
- ``builtin_tracks()``: the bundled ``audio/music/*.ogg``; their loudness comes from the folder's
  ``manifest.json`` when it has it, so nothing is decoded for them.

"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from companion.errors import AudioFileError, BadInputError
from companion.media.track_cache import (ANALYSIS_VERSION, CACHE_FILE, cache_notes, cache_path,  # noqa: F401
                                         cached_verdict, key_of, store_verdict)

log = logging.getLogger("companion")

AUDIO_EXTENSIONS = frozenset({".mp3", ".ogg", ".oga", ".opus", ".flac", ".wav", ".m4a", ".aac", ".wma",
                              ".aiff", ".aif"})


@dataclass(frozen=True)
class TrackInfo:
    path: Path
    duration_s: float
    loudness_lufs: float
    peak_db: float
    partial: bool = False   # loudness measured on the first 5 minutes of a long file only


# --------------------------------------------------------------------------------------------- finding

def find_tracks(paths: Sequence[str | Path], *, warn: bool = True) -> list[Path]:
    """Audio files named by ``paths``: files as given, folders searched recursively by extension.

    Paths come back absolute, without duplicates, folders' contents in natural name order ("2" before
    "10"); hidden files and folders (".name") are left out. A path that does not exist -> BadInputError.
    Unreadable folders and broken links are left out with one warning each (none when not ``warn``: a
    caller that only looks, such as the check of an -o path, leaves the telling to the session).
    """
    found: dict[Path, None] = {}
    for given in paths:
        path = _absolute(given)
        if not path.exists():
            raise BadInputError(f"music path not found: {given}",
                                hint="give an audio file or a folder that holds some")
        if path.is_dir():
            for track in _walk_audio(path, warn=warn):
                found.setdefault(track, None)
        else:
            found.setdefault(path, None)
    return list(found)


def _walk_audio(folder: Path, *, warn: bool = True) -> list[Path]:
    tracks = []
    say = log.warning if warn else log.debug

    def unreadable(err: OSError) -> None:
        say("cannot read folder %s (%s); skipped", err.filename, err.strerror)

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                path = Path(root, name)
                try:
                    os.stat(path)      # a link in a loop, or to nothing, is no track (and no traceback later)
                except OSError as err:
                    say("skipping %s: %s", path, err.strerror)
                    continue
                tracks.append(path)
    tracks.sort(key=lambda p: _natural_key(p.relative_to(folder)))
    return tracks


def _absolute(path: str | Path) -> Path:
    """Absolute and normalised (no ``..``), links kept: the name the user knows the file by."""
    return Path(os.path.abspath(os.path.expanduser(path)))


def _natural_key(path: Path) -> list:
    return [[(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name.casefold())]
            for name in path.parts]


# --------------------------------------------------------------------------------------------- measuring

def _known(key, path: Path) -> TrackInfo | None:
    """The cache's TrackInfo for ``key``, None when not measured yet; a cached breakage is raised again."""
    measured = cached_verdict(key, path)
    return None if measured is None else TrackInfo(path, *measured)


def track_info(path: Path, *, full: bool = False) -> TrackInfo:
    """Duration, loudness and peak of one file, from the cache or measured now (and cached).

    ``full``: measure a long file completely even when a partial (first 5 minutes) result would do.
    Raises AudioFileError (missing, empty, unreadable, not audio, truncated) and ToolMissingError.
    """
    from companion.media import loudness

    path = _absolute(path)
    builtin = _builtin_manifest().get(path.resolve())
    if builtin is not None:
        return TrackInfo(path, *builtin)
    key = key_of(path)
    cached = _known(key, path)
    if cached is not None and not (full and cached.partial):
        return cached
    try:
        analysis = loudness.analyse_file(path, full=full)
    except AudioFileError as err:
        if key.size and os.access(path, os.R_OK) and "permission" not in err.message:
            store_verdict(key, None, err.message.removeprefix(f"{path}: "))   # broken until it changes
        raise
    info = TrackInfo(path, analysis.duration_s, analysis.loudness_lufs, analysis.peak_db, analysis.partial)
    store_verdict(key, (info.duration_s, info.loudness_lufs, info.peak_db, info.partial))
    return info


@dataclass
class ScanResult:
    tracks: list[TrackInfo] = field(default_factory=list)     # usable tracks, in the order found
    analysed: int = 0                                          # measured now (broken ones too)
    cached: int = 0                                            # answered by the cache (broken ones too)
    fresh: int = 0                                             # usable tracks that were measured now
    skipped: list[tuple[Path, str]] = field(default_factory=list)   # broken files and why


def scan(paths: Sequence[str | Path], *, full: bool = True, workers: int | None = None,
         progress: Callable[[Path], None] | None = None, warn: bool = False) -> ScanResult:
    """Find the tracks under ``paths`` (``find_tracks``) and ``scan_tracks`` them."""
    return scan_tracks(find_tracks(paths), full=full, workers=workers, progress=progress, warn=warn)


def scan_tracks(tracks: Sequence[Path], *, full: bool = True, workers: int | None = None,
                progress: Callable[[Path], None] | None = None, warn: bool = False) -> ScanResult:
    """Measure every track not cached yet, ``workers`` ffmpeg processes at once (default: cores, max 4).

    Broken files are collected in ``skipped`` (and logged as one warning each when ``warn``); they never
    stop the scan. ``progress(path)`` is called once per file from the calling thread: cached files
    first, then measured ones as they finish.
    """
    tracks = [_absolute(t) for t in tracks]
    result = ScanResult()
    todo: list[tuple[int, Path]] = []
    outcome: dict[int, TrackInfo | AudioFileError] = {}
    for index, track in enumerate(tracks):
        try:
            key = key_of(track)
        except AudioFileError as err:
            outcome[index] = err
            continue
        if key.size == 0:
            outcome[index] = AudioFileError(f"{track}: empty file (0 bytes)")
            continue
        try:
            cached = _known(key, track)
        except AudioFileError as err:          # known broken, unchanged since
            outcome[index] = err
            result.cached += 1
            continue
        if cached is not None and not (full and cached.partial):
            outcome[index] = cached
            result.cached += 1
        else:
            todo.append((index, track))

    def measure(item: tuple[int, Path]) -> tuple[int, TrackInfo | AudioFileError]:
        index, track = item
        try:
            return index, track_info(track, full=full)
        except AudioFileError as err:
            return index, err

    workers = workers or min(4, os.cpu_count() or 1)
    if progress:
        for index, track in enumerate(tracks):
            if index in outcome:
                progress(track)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for index, value in pool.map(measure, todo):
            outcome[index] = value
            result.analysed += 1
            result.fresh += not isinstance(value, AudioFileError)
            if progress:
                progress(tracks[index])
    for index, track in enumerate(tracks):
        value = outcome[index]
        if isinstance(value, AudioFileError):
            reason = value.message.removeprefix(f"{track}: ")
            result.skipped.append((track, reason))
            if warn:
                log.warning("skipping %s: %s", track, reason)
        else:
            result.tracks.append(value)
    return result


# --------------------------------------------------------------------------------------------- playing

def playlist(tracks: Sequence[Path], *, seed: int, shuffle: bool = True) -> Iterator[Path]:
    """Endless track order: each round a fresh shuffle (or the given order), never one track twice in a row.

    Duplicates in ``tracks`` are dropped; a single track simply repeats. Empty -> BadInputError.
    """
    unique = list(dict.fromkeys(Path(t) for t in tracks))
    if not unique:
        raise BadInputError("no music tracks to play", hint="give a music file or folder with --music")
    if len(unique) == 1:
        while True:
            yield unique[0]
    rng = random.Random(seed)
    previous: Path | None = None
    while True:
        order = unique[:]
        if shuffle:
            rng.shuffle(order)
            if order[0] == previous:
                swap = rng.randrange(1, len(order))
                order[0], order[swap] = order[swap], order[0]
        yield from order
        previous = order[-1]


def builtin_tracks() -> list[Path]:
    """The bundled music, ``audio/music/*.ogg`` in name order."""
    folder = _builtin_music_dir()
    return sorted(folder.glob("*.ogg"), key=lambda p: _natural_key(Path(p.name))) if folder.is_dir() else []


def _builtin_music_dir() -> Path:
    from companion.assets import audio_dir

    return audio_dir() / "music"


_manifest_cache: dict[Path, dict[Path, tuple[float, float, float]]] = {}


def _builtin_manifest() -> dict[Path, tuple[float, float, float]]:
    """resolved path -> (duration_s, loudness_lufs, peak_db) from ``audio/music/manifest.json``.

    Accepts ``{"tracks": [{"file": ..., ...}]}``, a plain list of such entries, or ``{name: {...}}``;
    entries without duration and loudness are left to measurement.
    """
    folder = _builtin_music_dir()
    if folder in _manifest_cache:
        return _manifest_cache[folder]
    known: dict[Path, tuple[float, float, float]] = {}
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    entries = data.get("tracks", data) if isinstance(data, dict) else data
    if isinstance(entries, dict):
        entries = [{"file": name, **value} for name, value in entries.items() if isinstance(value, dict)]
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        name = entry.get("file") or entry.get("name") or entry.get("path")
        duration_s = entry.get("duration_s")
        loudness_lufs = entry.get("loudness_lufs", entry.get("lufs"))
        peak_db = entry.get("peak_db", entry.get("true_peak_db", entry.get("peak_dbfs", 0.0)))
        if isinstance(name, str) and isinstance(duration_s, (int, float)) and isinstance(loudness_lufs, (int, float)):
            known[(folder / name).resolve()] = (float(duration_s), float(loudness_lufs), float(peak_db or 0.0))
    _manifest_cache[folder] = known
    return known
