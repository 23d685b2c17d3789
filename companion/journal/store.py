"""The practice journal: one SQLite file of sessions, kept on this computer and readable by the user alone.

Where: ``journal.sqlite3`` in ``platformdirs.user_data_dir("companion")`` (``$COMPANION_DATA_DIR`` moves
the folder). The folder is made 0700 and the file 0600 before SQLite first writes to it; SQLite gives its
-wal and -shm files the database file's permissions.

A session is written twice, each time in one short transaction: a row when it starts (what was planned)
and an update when it ends (what was played, how it ended, and the after-session check-in when it is
answered soon enough: ``journal.recorder`` holds the ending for it; a late answer is a third small update). A session that never reaches its end write
(power cut, SIGKILL) leaves its row with no ending; it reads as "ended unexpectedly" once its process is
gone, and the next session start marks it so for good. Nothing is ever rewritten in place beyond these
updates, so a crash can cost one session's ending, never the file.

The schema (``journal.schema``) is versioned with SQLite's ``user_version``; ``MIGRATIONS[v]`` brings a
file from v - 1 to v, inside the transaction that checks the version. A file from a newer companion is refused (JournalError),
never altered. A file that is not a database is renamed aside with a dated name and a new journal begins.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path

from companion.errors import CompanionError
from companion.journal.schema import (COLUMNS, ENDINGS, MIGRATIONS, SCHEMA_VERSION, UNEXPECTED, SessionEnd,
                                      SessionRow, SessionStart)
from companion.processes import process_alive

log = logging.getLogger("companion")

JOURNAL_FILE = "journal.sqlite3"
SESSION_LOCK_TIMEOUT_S = 0.2     # at a session's start: a locked journal costs at most this, then a warning
COMMAND_LOCK_TIMEOUT_S = 5.0     # `companion journal`, `report`: worth a short wait


class JournalError(CompanionError):
    """The journal cannot be read or written (locked, read-only, from a newer companion, a disk fault)."""



def journal_path() -> Path:
    from companion.folders import data_dir

    return data_dir() / JOURNAL_FILE


class Journal:
    """An open journal. ``Journal.open()`` creates it (private folder and file) and migrates it."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    # -- opening ------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | None = None, *, lock_timeout_s: float = COMMAND_LOCK_TIMEOUT_S,
             create: bool = True) -> Journal:
        """Open (and with ``create``, make) the journal at ``path`` (default ``journal_path()``).

        Raises JournalError for a locked, read-only or newer-schema journal, FileNotFoundError when
        ``create`` is false and there is none. A file that is not a database is kept aside with a dated
        name (a warning says where) and a new journal begins.
        """
        path = Path(path) if path is not None else journal_path()
        if not create and not path.exists():
            raise FileNotFoundError(path)
        if create:
            _make_private(path)
        try:
            journal = cls(path, _connect(path, lock_timeout_s))
            journal._migrate()
            return journal
        except sqlite3.DatabaseError as err:
            if not _is_corrupt(err):
                raise _journal_error(path, err) from err
        try:
            aside = set_aside(path)
        except OSError as err:
            raise JournalError(f"the journal {path} is damaged and cannot be moved aside ({err.strerror})",
                               hint=f"check the permissions of {path.parent}") from err
        log.warning("the journal %s was damaged and is kept as %s; a new journal begins", path, aside.name)
        journal = cls(path, _connect(path, lock_timeout_s))
        journal._migrate()
        return journal

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as err:
            raise _journal_error(self.path, err) from err

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(f"the journal {self.path} was written by a newer companion (schema {version}; "
                               f"this one knows up to {SCHEMA_VERSION}); it is left as it is",
                               hint="update companion to read it")
        if version == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]   # another process may have migrated
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- a session's two writes ---------------------------------------------------------------------------
    def start(self, start: SessionStart) -> int:
        """Record a starting session (one transaction); rows of dead processes become "unexpected"."""
        values = {f.name: getattr(start, f.name) for f in fields(SessionStart)}
        values["started_unix"] = start.started_unix if start.started_unix is not None else time.time()
        values["pid"] = os.getpid()
        with self._transaction() as db:
            for row_id, pid in db.execute("SELECT id, pid FROM sessions WHERE ended IS NULL").fetchall():
                if not process_alive(pid):
                    db.execute("UPDATE sessions SET ended = ? WHERE id = ?", (UNEXPECTED, row_id))
            names = ", ".join(values)
            cursor = db.execute(f"INSERT INTO sessions ({names}) VALUES ({', '.join('?' * len(values))})",
                                tuple(values.values()))
            return int(cursor.lastrowid)

    def finish(self, row_id: int, end: SessionEnd) -> None:
        """Record how a session ended (one transaction). Check-in values left None are not overwritten."""
        if end.ended not in ENDINGS:
            raise ValueError(f"unknown ending {end.ended!r}")
        with self._transaction() as db:
            db.execute("UPDATE sessions SET ended = ?, played_s = ?, step_reached = ?,"
                       " tension_after = COALESCE(?, tension_after), pain_after = COALESCE(?, pain_after)"
                       " WHERE id = ?",
                       (end.ended, round(end.played_s, 2), end.step_reached, end.tension_after, end.pain_after,
                        row_id))

    def record_after(self, row_id: int, *, tension: int | None, pain: int | None) -> None:
        """The after-session check-in, answered once the session has ended."""
        with self._transaction() as db:
            db.execute("UPDATE sessions SET tension_after = COALESCE(?, tension_after),"
                       " pain_after = COALESCE(?, pain_after) WHERE id = ?", (tension, pain, row_id))

    # -- reading ------------------------------------------------------------------------------------------
    def sessions(self, *, since_unix: float | None = None, routine: str | None = None,
                 kind: str | None = None) -> list[SessionRow]:
        """Sessions oldest first; ``routine`` matches the name or the reference, case-insensitively."""
        where, args = [], []
        if since_unix is not None:
            where.append("started_unix >= ?")
            args.append(since_unix)
        if routine:
            where.append("(lower(routine) = lower(?) OR lower(routine_ref) = lower(?))")
            args += [routine, routine]
        if kind:
            where.append("kind = ?")
            args.append(kind)
        sql = f"SELECT {', '.join(COLUMNS)} FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        try:
            rows = self._db.execute(sql + " ORDER BY started_unix, id", args).fetchall()
        except sqlite3.DatabaseError as err:
            raise _journal_error(self.path, err) from err
        return [SessionRow(*row) for row in rows]

    def last(self, *, routine_ref: str | None = None) -> SessionRow | None:
        """The most recent session (of the routine ``routine_ref``), or None."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM sessions"
        args: Sequence[str] = ()
        if routine_ref is not None:
            sql += " WHERE routine_ref = ? AND kind = 'guided'"
            args = (routine_ref,)
        row = self._db.execute(sql + " ORDER BY started_unix DESC, id DESC LIMIT 1", args).fetchone()
        return SessionRow(*row) if row else None

    def add_note(self, text: str) -> SessionRow:
        """Attach ``text`` to the last session (appended on a new line to a note already there)."""
        last = self.last()
        if last is None:
            raise JournalError("the journal has no sessions yet, so there is nothing to add a note to",
                               hint="play a session first")
        with self._transaction() as db:
            db.execute("UPDATE sessions SET note = CASE WHEN note IS NULL OR note = '' THEN ?"
                       " ELSE note || char(10) || ? END WHERE id = ?", (text, text, last.id))
        return self.last()  # type: ignore[return-value]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM sessions").fetchone()[0])


def forget(path: Path | None = None) -> tuple[int, list[Path]]:
    """Delete the journal and its set-aside copies; returns (sessions it held, files deleted)."""
    path = Path(path) if path is not None else journal_path()
    held = 0
    if path.exists():
        try:
            with Journal.open(path, create=False) as journal:
                held = journal.count()
        except (JournalError, sqlite3.DatabaseError):
            held = 0
    removed = []
    candidates = [path, path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal"),
                  path.with_name(path.name + "-shm"), *sorted(path.parent.glob(f"{path.stem}.damaged-*"))]
    for candidate in candidates:
        try:
            candidate.unlink()
            removed.append(candidate)
        except FileNotFoundError:
            continue
        except OSError as err:
            raise JournalError(f"cannot delete {candidate} ({err.strerror})",
                               hint="check the folder's permissions") from err
    return held, removed


def set_aside(path: Path) -> Path:
    """Rename a damaged journal to ``journal.damaged-YYYYMMDD-HHMMSS.sqlite3`` beside it (never deleted)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.stem}.damaged-{stamp}{path.suffix}")
    number = 2
    while aside.exists():
        aside = path.with_name(f"{path.stem}.damaged-{stamp}-{number}{path.suffix}")
        number += 1
    os.replace(path, aside)
    return aside


def _make_private(path: Path) -> None:
    """The folder 0700 (when made here; an existing loose one is tightened by ``companion.folders`` when it
    is companion's) and the file 0600, before SQLite writes a byte."""
    from companion.folders import make_private_folder

    try:
        make_private_folder(path.parent)
    except OSError:
        return        # sqlite reports it, and the caller warns
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileExistsError:
        return
    except OSError:
        return        # read-only folder or file: sqlite reports it, and the caller warns
    os.close(fd)
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass


def _connect(path: Path, lock_timeout_s: float) -> sqlite3.Connection:
    """A connection with explicit transactions (isolation_level=None: BEGIN IMMEDIATE ... COMMIT).

    Write-ahead logging with synchronous=NORMAL: a commit appends to the -wal file without waiting for the
    disk (0.1 ms instead of 8-75 ms measured with the default rollback journal, which fsyncs twice), and
    the file stays consistent through a crash or power cut; at worst the last session's write is lost. A
    journal that cannot switch (read-only, locked) is used in the mode it has.
    """
    # check_same_thread=False: a session's start row may be written on the journal thread; the recorder joins
    # that thread before the connection is used again, so it is never used by two threads at once.
    db = sqlite3.connect(str(path), timeout=lock_timeout_s, isolation_level=None, check_same_thread=False)
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()   # fails here on a file that is not a database
    try:
        db.execute("PRAGMA journal_mode = WAL").fetchone()
    except sqlite3.OperationalError:
        pass
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def _is_corrupt(err: sqlite3.DatabaseError) -> bool:
    text = str(err).lower()
    return "not a database" in text or "malformed" in text or "file is encrypted" in text


def _journal_error(path: Path, err: sqlite3.Error) -> JournalError:
    text = str(err).lower()
    if "locked" in text or "busy" in text:
        why, hint = "it is locked by another program", "close the other companion, then try again"
    elif "readonly" in text or "read-only" in text or "unable to open" in text:
        why, hint = "it cannot be written (read-only file or folder)", f"check the permissions of {path.parent}"
    else:
        why, hint = f"the database refused: {err}", None
    return JournalError(f"the journal {path}: {why}", hint=hint)
