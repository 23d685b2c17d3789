"""The measurement cache: one SQLite file remembering each music file's length and loudness.

Keyed by the resolved path, size and mtime_ns (change a file and it is measured again) and by
``ANALYSIS_VERSION`` (change the measurement and every file is). A broken file's verdict is kept too.

The folder is ``companion.folders.cache_dir()`` (``$COMPANION_CACHE_DIR`` moves it), created 0700: it
names a person's own files. The cache is a convenience, never a reason to lose music: one that is garbage,
truncated, a folder or unreadable is moved aside under a dated name and rebuilt; one locked by another
program is waited for ``CACHE_WAIT_S`` and then bypassed; a folder that cannot be written means measuring
in memory. Each costs one warning (and a line in ``cache_notes()``, which `music scan` reports).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from companion.errors import AudioFileError
from companion.folders import cache_dir, make_private_folder

log = logging.getLogger("companion")

ANALYSIS_VERSION = 2        # bump when the measurement changes: older cache rows are measured again
CACHE_FILE = "library.sqlite"


def cache_path() -> Path:
    """The SQLite file holding measured tracks (``$COMPANION_CACHE_DIR`` overrides the folder)."""
    return cache_dir() / CACHE_FILE


_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, version INTEGER NOT NULL,
    duration_s REAL, loudness_lufs REAL, peak_db REAL, partial INTEGER NOT NULL DEFAULT 0,
    error TEXT, measured_at REAL NOT NULL
)"""

CACHE_WAIT_S = 2.0      # how long a cache another program holds locked is waited for, then bypassed

_connections: dict[Path, sqlite3.Connection] = {}
_lock = threading.RLock()
_notes: list[str] = []  # what went wrong with the cache in this process (also logged once as a warning)


def _db() -> sqlite3.Connection:
    """One connection per cache file per process, shared by threads under ``_lock``.

    Never fails: a cache that cannot be used (see ``_open_cache``) is replaced by one in memory for the
    rest of the process, so a broken cache costs time, never the user's music.
    """
    path = cache_path()
    with _lock:
        conn = _connections.get(path)
        if conn is None:
            conn = _connections[path] = _open_cache(path)
        return conn


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=CACHE_WAIT_S, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        conn.execute("SELECT count(*) FROM tracks").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _in_memory() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.execute(_SCHEMA)
    return conn


def _is_busy(err: sqlite3.Error) -> bool:
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(err) or "busy" in str(err)


def _note(message: str) -> None:
    _notes.append(message)
    log.warning("%s", message)


def cache_notes() -> list[str]:
    """What went wrong with the music cache in this process (moved aside, bypassed), for reports."""
    return list(_notes)


def _open_cache(path: Path) -> sqlite3.Connection:
    """The cache at ``path``, or the reason it cannot be used handled with one warning:

    - held locked by another program for ``CACHE_WAIT_S``: bypassed (measured in memory this time);
    - garbage, truncated, a folder, unreadable: moved aside under a dated name and built anew;
    - its folder cannot be created or written: measured in memory (the music still plays).
    """
    try:
        make_private_folder(path.parent)
    except OSError as err:
        _note(f"cannot create the music cache folder {path.parent} ({err.strerror or err}); "
              "measuring music in memory this time")
        return _in_memory()
    try:
        return _connect(path)
    except sqlite3.Error as err:
        first = err
    if _is_busy(first):
        _note(f"the music cache {path} is locked by another program (waited {CACHE_WAIT_S:g} s); "
              "measuring music in memory this time")
        return _in_memory()
    aside = _move_aside(path)
    if aside is None:
        _note(f"the music cache {path} is unusable ({first}) and cannot be moved aside; "
              "measuring music in memory this time")
        return _in_memory()
    try:
        conn = _connect(path)
    except sqlite3.Error as err:
        _note(f"the music cache {path} was unusable ({first}); moved it to {aside.name}, but a new one "
              f"cannot be made ({err}); measuring music in memory this time")
        return _in_memory()
    _note(f"the music cache {path} was unusable ({first}); moved it to {aside.name} and started a new one")
    return conn


def _move_aside(path: Path) -> Path | None:
    """Rename a broken cache (and its -wal/-shm files) to ``<name>.broken-YYYYmmdd-HHMMSS``; None when
    there is nothing to move or the folder does not allow it."""
    if not os.path.lexists(path):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    number = 2
    while os.path.lexists(aside):
        aside = path.with_name(f"{path.name}.broken-{stamp}-{number}")
        number += 1
    try:
        os.rename(path, aside)
    except OSError:
        return None
    for suffix in ("-wal", "-shm"):
        try:
            os.rename(f"{path}{suffix}", f"{aside}{suffix}")
        except OSError:
            pass
    return aside


def _query(sql: str, values: tuple) -> list:
    """Run one statement on the cache; if the cache turns out broken or locked mid-session, handle it as
    ``_open_cache`` does (once) and run it again on the replacement."""
    with _lock:
        try:
            return _db().execute(sql, values).fetchall()
        except sqlite3.Error as err:
            path = cache_path()
            broken = _connections.pop(path, None)
            if broken is not None:
                broken.close()
            if _is_busy(err):
                _note(f"the music cache {path} is locked by another program (waited {CACHE_WAIT_S:g} s); "
                      "measuring music in memory this time")
                conn = _connections[path] = _in_memory()
            else:
                conn = _connections[path] = _open_cache(path)
            return conn.execute(sql, values).fetchall()


@dataclass(frozen=True)
class _Key:
    path: str
    size: int
    mtime_ns: int


def key_of(path: Path) -> _Key:
    """The cache key of ``path``: its resolved name, size and mtime; AudioFileError when it cannot be stat'ed."""
    resolved = path.resolve()
    try:
        st = resolved.stat()
    except FileNotFoundError as err:
        raise AudioFileError(f"{path}: file not found") from err
    except OSError as err:
        raise AudioFileError(f"{path}: cannot read it ({err.strerror or err})") from err
    return _Key(str(resolved), st.st_size, st.st_mtime_ns)


Measured = tuple[float, float, float, bool]     # duration_s, loudness_lufs, peak_db, partial


def cached_verdict(key: _Key, path: Path) -> Measured | None:
    """The cached verdict for ``key``: what was measured, or the cached AudioFileError raised; None = unknown."""
    rows = _query("SELECT duration_s, loudness_lufs, peak_db, partial, error FROM tracks "
                  "WHERE path = ? AND size = ? AND mtime_ns = ? AND version = ?",
                  (key.path, key.size, key.mtime_ns, ANALYSIS_VERSION))
    if not rows:
        return None
    duration_s, loudness_lufs, peak_db, partial, error = rows[0]
    if error:
        raise AudioFileError(f"{path}: {error}")
    return duration_s, loudness_lufs, peak_db, bool(partial)


def store_verdict(key: _Key, measured: Measured | None, error: str | None = None) -> None:
    """Remember ``measured`` (or, with None, that the file is broken because of ``error``) for ``key``."""
    values = (*measured[:3], int(measured[3])) if measured else (None,) * 3 + (0,)
    _query("INSERT OR REPLACE INTO tracks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
           (key.path, key.size, key.mtime_ns, ANALYSIS_VERSION, *values, error, time.time()))
