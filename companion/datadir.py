"""Where installed routine packs live: ``routines/<name>/`` in the user data folder
(``companion.folders.data_dir``; the journal keeps its database there too), each with its
``routine.toml``, clips, music and the pack's ``manifest.json``. The installer creates the folders 0700:
the data folder may hold health data, so only the user can read it.
"""

from __future__ import annotations

from pathlib import Path

from companion.folders import data_dir

ROUTINE_FILE = "routine.toml"
MANIFEST_FILE = "manifest.json"


def installed_routines_dir() -> Path:
    """Where installed routine packs live, one folder per name (it need not exist yet)."""
    return data_dir() / "routines"


def installed_routine_file(name: str) -> Path | None:
    """The routine file of the installed pack ``name``, if there is one."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = installed_routines_dir() / name / ROUTINE_FILE
    return path if path.is_file() else None
