"""The journal's side of one played session: a row when it starts, its ending when it stops.

The contract with ``play`` and ``ambient``: a journal fault (locked, read-only, damaged, from a newer
companion, a full disk) never stops a session. ``SessionRecorder.begin`` opens the journal with a short
lock timeout and writes the start row; any fault becomes one warning line and a recorder that records
nothing. With ``background=True`` that write runs on its own thread while the player opens the device and
fills its ring, so the commit's trip to the disk (20-60 ms measured on a busy disk) is not added to the
session's start; ``end``, ``after`` and ``close`` wait for it first. The player's facts come in through ``ending_of`` (its result) or ``device_lost`` (the session's
last status), so this module never touches sound.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from companion.journal.schema import DEVICE_LOST, FINISHED, INTERRUPTED, QUIT, SessionEnd, SessionStart, content_hash
from companion.journal.store import Journal, JournalError

log = logging.getLogger("companion")


class SessionRecorder:
    """Writes one session's two journal rows; every method is safe to call when recording is off."""

    def __init__(self, journal: Journal | None, row_id: int | None, took_s: float = 0.0) -> None:
        self._journal = journal
        self.row_id = row_id
        self.took_s = took_s          # what the start write took (for the benchmark)
        self._writing: threading.Thread | None = None

    @property
    def recording(self) -> bool:
        self._wait()
        return self._journal is not None and self.row_id is not None

    @classmethod
    def off(cls) -> SessionRecorder:
        return cls(None, None)

    @classmethod
    def begin(cls, start: SessionStart, *, path: Path | None = None, background: bool = False) -> SessionRecorder:
        """Open the journal and write ``start`` (on a thread with ``background``); on a fault, warn once
        and record nothing."""
        recorder = cls(None, None)
        if background:
            recorder._writing = threading.Thread(target=recorder._start, args=(start, path),
                                                 name="companion-journal", daemon=True)
            recorder._writing.start()
        else:
            recorder._start(start, path)
        return recorder

    def _start(self, start: SessionStart, path: Path | None) -> None:
        from companion.journal.store import SESSION_LOCK_TIMEOUT_S

        began = time.perf_counter()
        journal = None
        try:
            journal = Journal.open(path, lock_timeout_s=SESSION_LOCK_TIMEOUT_S)
            row_id = journal.start(start)
        except (JournalError, OSError) as err:
            if journal is not None:
                journal.close()
            log.warning("%s; this session plays but is not recorded", _reason(err))
            return
        self._journal, self.row_id, self.took_s = journal, row_id, time.perf_counter() - began

    def _wait(self) -> None:
        if self._writing is not None:
            self._writing.join()
            self._writing = None

    def end(self, end: SessionEnd) -> None:
        if not self.recording:
            return
        try:
            self._journal.finish(self.row_id, end)  # type: ignore[union-attr]
        except (JournalError, OSError) as err:
            log.warning("%s; this session's ending is not recorded", _reason(err))

    def after(self, *, tension: int | None, pain: int | None) -> None:
        """The after-session check-in (its own small write: the person may take a while to answer)."""
        if not self.recording or (tension is None and pain is None):
            return
        try:
            self._journal.record_after(self.row_id, tension=tension, pain=pain)  # type: ignore[union-attr]
        except (JournalError, OSError) as err:
            log.warning("%s; the check-in is not recorded", _reason(err))

    def close(self) -> None:
        self._wait()
        if self._journal is not None:
            self._journal.close()
            self._journal = None


def _reason(err: BaseException) -> str:
    if isinstance(err, JournalError):
        return str(err)
    return f"the journal cannot be written ({getattr(err, 'strerror', None) or err})"


def routine_start(routine, *, ref: str, planned_s: float, start_step: int, minutes: float | None, seed: int,
                  music: str, tension: int | None, pain: int | None) -> SessionStart:
    """The start row for a guided session of ``routine`` (a ``plan.routine.Routine``)."""
    return SessionStart(kind="guided", routine=routine.name, routine_hash=content_hash(routine.source),
                        routine_ref=ref, planned_s=planned_s, step_count=len(routine.steps),
                        start_step=start_step, minutes=minutes, seed=seed, music=music,
                        tension_before=tension, pain_before=pain)


def ambient_start(options: dict, planned_s: float) -> SessionStart:
    """The start row for ``companion ambient`` (``options``: what its session is built from)."""
    return SessionStart(kind="ambient", routine="Ambient", routine_hash="", routine_ref="ambient",
                        planned_s=planned_s, minutes=options.get("minutes"), seed=int(options.get("seed", 0)),
                        music=", ".join(str(m) for m in options.get("music", ())))


def ending_of(result) -> SessionEnd:
    """How a played session ended, from the player's result (``output.player.PlaybackResult``)."""
    status = result.status
    at = result.stopped_at if result.stopped_at is not None else status
    step = at.step_index if at is not None and at.step_index >= 0 else None
    played_s = float(status.elapsed_s) if status is not None else 0.0
    if result.interrupted:
        return SessionEnd(INTERRUPTED, played_s, step)
    if status is not None and status.stopped_early:
        return SessionEnd(QUIT, played_s, step)
    return SessionEnd(FINISHED, played_s, step)


def device_lost(status) -> SessionEnd:
    """The device went away and none came back: the session's last status says how far it got."""
    step = status.step_index if status.step_index >= 0 else None
    return SessionEnd(DEVICE_LOST, float(status.elapsed_s), step)
