"""Preflight for ``routines check``: what assembling the session would trip on, found before any sound —
the routine's total length, and whether every audio file it names (a recorded ``clip``, a ``[session]
music`` file or folder) really is audio. (It lives beside ``assemble`` because it reads audio, which
``plan`` never does.)

Parsing (``companion.plan.routine``) only checks that a clip path exists; a text file named as a clip, or
a music folder with nothing playable in it, would otherwise be found out in the middle of a session. Each
problem is one message naming the routine file, the step and the key.
"""

from __future__ import annotations

from pathlib import Path

from companion.errors import CompanionError
from companion.plan.routine import Routine

MAX_ROUTINE_S = 8 * 3600.0     # a routine longer than this is a mistake (a hold in minutes given as hours)


def length_problem(routine: Routine, total_s: float) -> str | None:
    """A message when the planned length ``total_s`` passes MAX_ROUTINE_S, else None."""
    if total_s <= MAX_ROUTINE_S:
        return None
    hours = total_s / 3600.0
    return (f"{_where(routine)}: the routine lasts {hours:.1f} hours; the most allowed is "
            f"{MAX_ROUTINE_S / 3600:g} hours (check the holds)")


def audio_problems(routine: Routine) -> list[str]:
    """One message per clip or session music path that is not usable audio (empty when all are)."""
    from companion.media.decode import clip_frames

    problems: list[str] = []
    where = _where(routine)
    for number, step in enumerate(routine.steps, start=1):
        named = [(f"lines[{i}]", line) for i, line in enumerate(step.lines, start=1)]
        named += [(f"hold_cues[{i}]", cue.line) for i, cue in enumerate(step.hold_cues, start=1)]
        for key, line in named:
            if line.clip is None:
                continue
            try:
                if clip_frames(line.clip, 1000) <= 0:
                    raise CompanionError("it holds no audio")
            except CompanionError as err:
                problems.append(f"{where}: step {number} ('{step.id}'): {key}.clip: "
                                f"{line.clip} is not an audio file ({_reason(err, line.clip)})")
    for entry in routine.options.music:
        if entry in ("builtin", "none"):
            continue
        reason = _music_problem(Path(entry))
        if reason:
            problems.append(f"{where}: session.music: {entry}: {reason}")
    return problems


def _music_problem(path: Path) -> str | None:
    from companion.media import library

    if not path.exists():
        return "not found"
    if path.is_dir():
        return None if library.find_tracks([path]) else "the folder holds no audio files"
    try:
        library.track_info(path)
    except CompanionError as err:
        return f"not an audio file ({_reason(err, path)})"
    return None


def _reason(err: CompanionError, path: Path) -> str:
    """The error's message without the path it starts with (the caller names the path already)."""
    prefix, _, rest = str(err).partition(": ")
    return rest if rest and prefix.endswith(path.name) else str(err)


def _where(routine: Routine) -> str:
    return str(routine.source) if routine.source else routine.name
