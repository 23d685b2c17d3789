"""Picking a session up where it stopped: what ``--resume`` replays, and the command the stop line prints.

A resumed session is rebuilt from what the journal kept of the stopped one: the same routine, the same
``--minutes`` (so the holds keep the scale fitted for the whole routine), the same music seed, starting
at the step where it stopped, with the normal lead-in and fade-in.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from companion.errors import BadInputError
from companion.journal.schema import FINISHED, SessionRow
from companion.journal.store import Journal


@dataclass(frozen=True)
class ResumePoint:
    routine_ref: str
    start_step: int            # 0-based
    minutes: float | None
    seed: int
    row: SessionRow


def resume_point(journal: Journal, routine_ref: str | None) -> ResumePoint:
    """The last session (of ``routine_ref``, else of any routine) if it did not finish; else BadInputError."""
    last = journal.last(routine_ref=routine_ref) if routine_ref else _last_guided(journal)
    which = f"of {routine_ref} " if routine_ref else ""
    if last is None:
        raise BadInputError(f"--resume: the journal has no session {which}to pick up",
                            hint="use --from STEP to start at any step")
    if last.ending == FINISHED:
        raise BadInputError(f"--resume: the last session {which}({last.started:%a %d %b %H:%M}) finished; "
                            "there is nothing to pick up", hint="use --from STEP to start at any step")
    if last.ending == "running":
        raise BadInputError(f"--resume: the last session {which}is still playing (process {last.pid})")
    step = last.step_reached if last.step_reached is not None else last.start_step
    return ResumePoint(last.routine_ref, step, last.minutes, last.seed, last)


def _last_guided(journal: Journal) -> SessionRow | None:
    rows = journal.sessions(kind="guided")
    return rows[-1] if rows else None


def pickup_command(routine_ref: str, step: int, *, minutes: float | None, seed: int,
                   music: tuple[str, ...] = ()) -> str:
    """The exact ``companion play`` line that starts ``routine_ref`` at ``step`` (0-based) as it was."""
    words = ["companion", "play", routine_ref, "--from", str(step + 1)]
    if minutes is not None:
        words += ["--minutes", f"{minutes:g}"]
    if seed:
        words += ["--seed", str(seed)]
    for path in music:
        words += ["--music", str(path)]
    return shlex.join(words)
