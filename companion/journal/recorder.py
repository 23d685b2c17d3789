"""The journal's side of one played session: a row when it starts, its ending when it stops.

The contract with ``play`` and ``ambient``: a journal fault (locked, read-only, damaged, from a newer
companion, a full disk) never stops a session. ``SessionRecorder.begin`` opens the journal with a short
lock timeout and writes the start row; any fault becomes one warning line and a recorder that records
nothing. With ``background=True`` that write runs on its own thread while the player opens the device and
fills its ring, so the commit's trip to the disk (20-60 ms measured on a busy disk) is not added to the
session's start; ``end``, ``after`` and ``close`` wait for it first. The player's facts come in through
``ending_of`` (its result) or ``device_lost`` (the session's last status), so this module never touches sound.

The ending and the after-session check-in are one write where possible: ``end(..., hold_s=AFTER_HOLD_S)``
holds the ending while the questions are asked, and ``after`` writes it together with the answers in one
transaction. The person may take their time (the check-in has no time limit), so the hold is short: if no
answer has come within ``hold_s`` a timer writes the ending alone, and the answers follow as a second small
update when they come. ``close`` (reached on Ctrl-C too) writes a held ending at the latest. Why not defer
without limit: until the ending is written the row reads "ended unexpectedly" to anyone who looks, and a
process killed meanwhile would lose how a finished session ended; the hold bounds that window to seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

from companion.journal.schema import DEVICE_LOST, FINISHED, INTERRUPTED, QUIT, SessionEnd, SessionStart, content_hash
from companion.journal.store import Journal, JournalError

log = logging.getLogger("companion")

AFTER_HOLD_S = 15.0   # how long the ending waits for the after-session answers before it is written alone


class SessionRecorder:
    """Writes one session's two journal rows; every method is safe to call when recording is off."""

    def __init__(self, journal: Journal | None, row_id: int | None, took_s: float = 0.0) -> None:
        self._journal = journal
        self.row_id = row_id
        self.took_s = took_s          # what the start write took (for the benchmark)
        self._writing: threading.Thread | None = None
        self._held: SessionEnd | None = None       # an ending waiting for the after-session answers
        self._hold_timer: threading.Timer | None = None
        self._lock = threading.Lock()              # the held ending is written by one thread, once

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

    def end(self, end: SessionEnd, *, hold_s: float = 0.0) -> None:
        """Record how the session ended; with ``hold_s``, hold it that long for ``after`` (see the module
        docstring), then write it alone."""
        if not self.recording:
            return
        if hold_s <= 0:
            self._write_end(end)
            return
        with self._lock:
            self._held = end
        self._hold_timer = threading.Timer(hold_s, self._write_held)
        self._hold_timer.daemon = True
        self._hold_timer.start()

    def after(self, *, tension: int | None, pain: int | None) -> None:
        """The after-session check-in: with the held ending in one transaction, else its own small write
        (the person took longer than the hold)."""
        if not self.recording:
            return
        self._stop_timer()
        if self._write_held(tension, pain) or (tension is None and pain is None):
            return
        with self._lock:
            try:
                self._journal.record_after(self.row_id, tension=tension, pain=pain)  # type: ignore[union-attr]
            except (JournalError, OSError) as err:
                log.warning("%s; the check-in is not recorded", _reason(err))

    def _write_held(self, tension: int | None = None, pain: int | None = None) -> bool:
        """Write the held ending (with these answers); False when nothing was held any more."""
        with self._lock:
            held, self._held = self._held, None
            if held is None:
                return False
            self._write_end(replace(held, tension_after=tension, pain_after=pain))
            return True

    def _write_end(self, end: SessionEnd) -> None:
        try:
            self._journal.finish(self.row_id, end)  # type: ignore[union-attr]
        except (JournalError, OSError) as err:
            log.warning("%s; this session's ending is not recorded", _reason(err))

    def _stop_timer(self) -> None:
        timer, self._hold_timer = self._hold_timer, None
        if timer is not None:
            timer.cancel()
            if timer.is_alive() and timer is not threading.current_thread():
                timer.join()

    def close(self) -> None:
        self._wait()
        self._stop_timer()
        if self._journal is not None:
            self._write_held()
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
