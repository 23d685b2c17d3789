"""``record --import FOLDER``: existing recordings (a phone's voice memos, another program's takes) as lines.

Files are matched to the lines still to record by name first: ``<step>-<n>.*`` (``settle-2.m4a``),
``<step>-cue-<n>.*`` for a hold cue (``temples-cue-1.m4a``), or ``<step>.*`` for a step's first line. When no file in the folder matches by name, they are taken in
natural name order (``memo 2`` before ``memo 10``) for the lines in routine order. Each matched file is
cleaned like a recorded take (``takes.clean_take``); a file that is unreadable, silent, clipped or far
too short is skipped with one line saying why, and the rest go on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from companion.errors import BadInputError
from companion.studio.lines import PendingLine
from companion.studio.takes import CleanTake, clean_take, load_take

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".wma",
                            ".aif", ".aiff", ".webm", ".3gp", ".amr", ".caf"})


@dataclass(frozen=True)
class Match:
    line: PendingLine
    path: Path


def audio_files(folder: Path) -> list[Path]:
    """The audio files directly in ``folder`` (by extension), in natural name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"--import: {folder} is not a folder", hint="give the folder that holds the recordings")
    files = [p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()]
    if not files:
        raise BadInputError(f"--import: no audio files in {folder}",
                            hint=f"files ending in {', '.join(sorted(AUDIO_SUFFIXES))}")
    return sorted(files, key=_natural_key)


def match_files(lines: list[PendingLine], files: list[Path]) -> tuple[list[Match], list[Path]]:
    """Pair lines with files (module docstring); returns the matches and the files left over."""
    by_stem: dict[str, Path] = {}
    for path in files:
        by_stem.setdefault(path.stem.lower(), path)
    matches: list[Match] = []
    for line in lines:
        found = by_stem.get(line.label)
        if found is None and line.line_index == 0 and not line.is_cue:
            found = by_stem.get(line.step_id)
        if found is not None:
            matches.append(Match(line, found))
    if not matches:
        matches = [Match(line, path) for line, path in zip(lines, files)]
    used = {m.path for m in matches}
    return matches, [p for p in files if p not in used]


def import_take(match: Match) -> CleanTake:
    """Load and clean one matched file; AudioFileError when it cannot be read."""
    return clean_take(load_take(match.path), match.line.text)


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]
