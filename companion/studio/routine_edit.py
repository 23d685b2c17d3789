"""Put a recorded clip into a routine file in place, keeping every comment and the file's layout.

The routine is the therapist's own text: a line ``"Breathe out slowly."`` becomes
``{ text = "Breathe out slowly.", clip = "clips/settle-2.flac" }`` where it stands, and nothing else in
the file changes (tomlkit edits the parsed document, which keeps comments, spacing and order). Each
change is written to a temporary file in the same folder and renamed over the routine, so an interrupted
recording session leaves either the old file or the new one, never half of one; the result is validated
with the routine loader before it replaces the old file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.items import InlineTable

from companion.errors import RoutineError
from companion.plan.routine import parse_routine


def clip_name(label: str) -> str:
    """The clip file of a line, relative to the routine: ``clips/<label>.flac`` (``clips/settle-2.flac``)."""
    return f"clips/{label}.flac"


def set_line_clip(routine_path: Path, step_id: str, line_index: int, clip: str) -> None:
    """Give line ``line_index`` (from 0) of step ``step_id`` the recorded ``clip`` (relative path)."""
    routine_path = Path(routine_path)
    text = routine_path.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    lines = _step_lines(document, step_id, routine_path)
    if not 0 <= line_index < len(lines):
        raise RoutineError(f"{routine_path}: step '{step_id}' has no line {line_index + 1}")
    current = lines[line_index]
    if isinstance(current, str):
        item = tomlkit.inline_table()
        item.update({"text": str(current), "clip": clip})
        lines[line_index] = item
    elif isinstance(current, (dict, InlineTable)):
        current["clip"] = clip
    else:
        raise RoutineError(f"{routine_path}: step '{step_id}' line {line_index + 1} is neither text nor a table")
    _write_checked(routine_path, document)


def set_cue_clip(routine_path: Path, step_id: str, cue_index: int, clip: str) -> None:
    """Give hold cue ``cue_index`` (from 0) of step ``step_id`` the recorded ``clip`` (relative path)."""
    routine_path = Path(routine_path)
    document = tomlkit.parse(routine_path.read_text(encoding="utf-8"))
    cues = _step(document, step_id, routine_path).get("hold_cues")
    if cues is None or not 0 <= cue_index < len(cues):
        raise RoutineError(f"{routine_path}: step '{step_id}' has no hold cue {cue_index + 1}")
    cues[cue_index]["clip"] = clip
    _write_checked(routine_path, document)


def _write_checked(routine_path: Path, document: tomlkit.TOMLDocument) -> None:
    new_text = tomlkit.dumps(document)
    parse_routine(tomlkit.parse(new_text).unwrap(), source=routine_path)   # never write a broken routine
    replace_text(routine_path, new_text)


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, keeping the file's permissions."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _step(document: tomlkit.TOMLDocument, step_id: str, where: Path):
    for step in document.get("steps", []):
        if step.get("id") == step_id:
            return step
    raise RoutineError(f"{where}: no step with id '{step_id}'")


def _step_lines(document: tomlkit.TOMLDocument, step_id: str, where: Path):
    lines = _step(document, step_id, where).get("lines")
    if lines is None:
        raise RoutineError(f"{where}: step '{step_id}' has no lines")
    return lines
