"""Which lines of a routine a recording session works through, and saving an accepted take for one.

A line is "recorded" when it has a ``clip``; ``record`` walks the others in routine order, so a session
stopped with ``q`` (or Ctrl-C) resumes at the first line still without a recording. Saving a take writes
the FLAC first and then points the routine at it, each step atomic: at every moment the routine is valid
and every clip it names is complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from companion.errors import BadInputError
from companion.plan.routine import Routine
from companion.studio.routine_edit import clip_name, set_line_clip
from companion.studio.takes import CleanTake, write_flac


@dataclass(frozen=True)
class PendingLine:
    step_index: int
    step_id: str
    step_title: str
    line_index: int          # from 0 within the step
    text: str | None
    has_clip: bool

    @property
    def label(self) -> str:
        return f"{self.step_id}-{self.line_index + 1}"


def lines_to_record(routine: Routine, *, every: bool = False, step_id: str | None = None) -> list[PendingLine]:
    """The lines without a recording (``every``: all lines; ``step_id``: that step's lines only)."""
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
    return found


def save_take(routine_path: Path, line: PendingLine, take: CleanTake) -> Path:
    """Write the take as ``clips/<step>-<n>.flac`` beside the routine and name it in the routine file."""
    relative = clip_name(line.step_id, line.line_index + 1)
    path = write_flac(take.segment, Path(routine_path).parent / relative)
    set_line_clip(routine_path, line.step_id, line.line_index, relative)
    return path
