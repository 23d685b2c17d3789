"""The routines installed from packs: listing them (name, title, author) and removing one."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from companion.datadir import MANIFEST_FILE, ROUTINE_FILE, installed_routines_dir
from companion.errors import BadInputError
from companion.packs.manifest import NAME_RE, Manifest, parse_manifest


@dataclass(frozen=True)
class InstalledRoutine:
    name: str
    folder: Path
    manifest: Manifest | None     # None when the folder's manifest is missing or unreadable

    @property
    def routine_file(self) -> Path:
        return self.folder / ROUTINE_FILE


def installed_routines() -> list[InstalledRoutine]:
    """Every installed routine, by name (folders being installed or removed are skipped)."""
    root = installed_routines_dir()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir() or not (folder / ROUTINE_FILE).is_file():
            continue
        try:
            manifest = parse_manifest((folder / MANIFEST_FILE).read_bytes(), str(folder))
        except (OSError, BadInputError):
            manifest = None
        found.append(InstalledRoutine(folder.name, folder, manifest))
    return found


def remove_installed(name: str) -> Path:
    """Delete the installed routine ``name`` (its folder, clips and music). Returns the folder removed."""
    folder = installed_routines_dir() / name
    if not NAME_RE.match(name) or not (folder / ROUTINE_FILE).is_file():
        names = ", ".join(r.name for r in installed_routines()) or "none"
        raise BadInputError(f"no installed routine named '{name}'", hint=f"installed: {names}")
    shutil.rmtree(folder)
    return folder
