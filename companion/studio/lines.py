"""Which lines of a routine a recording session works through, and saving an accepted take for one.

The lines are a step's ``lines`` and then its ``hold_cues`` (the reminders spoken inside the hold): a
routine voiced by the therapist must not switch to the built-in voice mid-hold. A line is "recorded"
when it has a ``clip``; ``record`` walks the others in routine order, so a session
stopped with ``q`` (or Ctrl-C) resumes at the first line still without a recording. Saving a take writes
the FLAC first and then points the routine at it, each step atomic: at every moment the routine is valid
and every clip it names is complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from companion.errors import BadInputError
from companion.plan.routine import Routine
from companion.studio.routine_edit import clip_name, set_cue_clip, set_line_clip
from companion.studio.takes import CleanTake, write_flac


@dataclass(frozen=True)
class PendingLine:
    step_index: int
    step_id: str
    step_title: str
    line_index: int          # from 0 within the step's lines, or within its hold cues when ``is_cue``
    text: str | None
    has_clip: bool
    is_cue: bool = False     # a hold cue (``hold_cues[line_index]``), not one of the step's ``lines``

    @property
    def label(self) -> str:
        """``settle-2`` for the second line, ``settle-cue-1`` for the first hold cue (file names follow it)."""
        return f"{self.step_id}-{'cue-' if self.is_cue else ''}{self.line_index + 1}"


def lines_to_record(routine: Routine, *, every: bool = False, step_id: str | None = None) -> list[PendingLine]:
    """The lines and hold cues without a recording (``every``: all; ``step_id``: that step's only)."""
    if step_id is not None and step_id not in {s.id for s in routine.steps}:
        raise BadInputError(f"--step: the routine has no step '{step_id}'",
                            hint=f"its steps: {', '.join(s.id for s in routine.steps)}")
    found = []
    for i, step in enumerate(routine.steps):
        if step_id is not None and step.id != step_id:
            continue
        for j, line in enumerate(step.lines):
            if every or step_id is not None or line.clip is None:
                found.append(PendingLine(i, step.id, step.title, j, line.text, line.clip is not None))
        for j, cue in enumerate(step.hold_cues):
            if every or step_id is not None or cue.line.clip is None:
                found.append(PendingLine(i, step.id, step.title, j, cue.line.text, cue.line.clip is not None,
                                         is_cue=True))
    return found


def save_take(routine_path: Path, line: PendingLine, take: CleanTake) -> Path:
    """Write the take as ``clips/<label>.flac`` beside the routine and name it in the routine file."""
    relative = clip_name(line.label)
    path = write_flac(take.segment, Path(routine_path).parent / relative)
    if line.is_cue:
        set_cue_clip(routine_path, line.step_id, line.line_index, relative)
    else:
        set_line_clip(routine_path, line.step_id, line.line_index, relative)
    return path
