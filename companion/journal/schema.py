"""What a journal row is: the schema, its migrations, and the records a session writes and reads back.

``MIGRATIONS[v]`` brings a file from version v - 1 to v (SQLite's ``user_version``); a new column is a new
version, never an edit of an old one, so every journal ever written can be brought up to date.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cached_property
from pathlib import Path

from companion.processes import process_alive

# How a session ended (the ``ended`` column). NULL: not ended yet, or the process died (see ``ending``).
FINISHED, QUIT, INTERRUPTED, DEVICE_LOST, UNEXPECTED = "finished", "quit", "interrupted", "device-lost", "unexpected"
ENDINGS = (FINISHED, QUIT, INTERRUPTED, DEVICE_LOST, UNEXPECTED)

MIGRATIONS: dict[int, tuple[str, ...]] = {
    # v1: the first journal, sessions and how they ended.
    1: ("""CREATE TABLE sessions (
              id INTEGER PRIMARY KEY,
              started_unix REAL NOT NULL,
              kind TEXT NOT NULL,
              routine TEXT NOT NULL,
              routine_hash TEXT NOT NULL,
              planned_s REAL NOT NULL,
              played_s REAL,
              ended TEXT,
              step_reached INTEGER,
              music TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX sessions_started ON sessions (started_unix)"),
    # v2: check-in, notes, and what --resume needs to rebuild the same session.
    2: ("ALTER TABLE sessions ADD COLUMN routine_ref TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE sessions ADD COLUMN step_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN start_step INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN minutes REAL",
        "ALTER TABLE sessions ADD COLUMN seed INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN tension_before INTEGER",
        "ALTER TABLE sessions ADD COLUMN tension_after INTEGER",
        "ALTER TABLE sessions ADD COLUMN pain_before INTEGER",
        "ALTER TABLE sessions ADD COLUMN pain_after INTEGER",
        "ALTER TABLE sessions ADD COLUMN note TEXT",
        "ALTER TABLE sessions ADD COLUMN pid INTEGER"),
}
SCHEMA_VERSION = max(MIGRATIONS)


@dataclass(frozen=True)
class SessionStart:
    """What is known when a session starts."""

    kind: str                     # "guided" or "ambient"
    routine: str                  # the routine's display name ("Ambient" for ambient music)
    routine_hash: str             # content hash: an edited routine is told apart (see ``content_hash``)
    routine_ref: str              # what to type to play it again: a built-in name or the file's path
    planned_s: float              # the fitted length of what will play
    step_count: int = 0
    start_step: int = 0           # 0-based; > 0 for --from / --resume
    minutes: float | None = None  # --minutes as given (None: the routine's own length), for --resume
    seed: int = 0
    music: str = ""
    tension_before: int | None = None
    pain_before: int | None = None
    started_unix: float | None = None   # default: now


@dataclass(frozen=True)
class SessionEnd:
    """What the player knows when a session ends."""

    ended: str                    # one of ENDINGS
    played_s: float
    step_reached: int | None = None   # 0-based step where it stopped (None: no steps, or unknown)
    tension_after: int | None = None
    pain_after: int | None = None


@dataclass(frozen=True)
class SessionRow:
    id: int
    started_unix: float
    kind: str
    routine: str
    routine_hash: str
    planned_s: float
    played_s: float | None
    ended: str | None
    step_reached: int | None
    music: str
    routine_ref: str
    step_count: int
    start_step: int
    minutes: float | None
    seed: int
    tension_before: int | None
    tension_after: int | None
    pain_before: int | None
    pain_after: int | None
    note: str | None
    pid: int | None

    @cached_property
    def started(self) -> datetime:
        """The local start time (computed once: the report reads it several times per row)."""
        return datetime.fromtimestamp(self.started_unix).astimezone()

    @property
    def ending(self) -> str:
        """One of ENDINGS, or "running" for a session whose process is still alive."""
        if self.ended:
            return self.ended
        return "running" if process_alive(self.pid) and self.started_unix + self.planned_s + 3600 > time.time() \
            else UNEXPECTED


COLUMNS = tuple(f.name for f in fields(SessionRow))


def content_hash(path: Path | None) -> str:
    """The first 16 hex digits of the routine file's SHA-256 ("" when there is no file)."""
    if path is None:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return ""
