"""The user data folder: installed routine packs (``routines/``) and, for the journal, its database.

``platformdirs.user_data_dir("companion")``, or ``$COMPANION_DATA_DIR``. Created 0700 (it may hold
health data: only the user can read it). Installed routines live in ``routines/<name>/`` with their
``routine.toml``, clips, music and the pack's ``manifest.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "COMPANION_DATA_DIR"
ROUTINE_FILE = "routine.toml"
MANIFEST_FILE = "manifest.json"


def user_data_dir() -> Path:
    """The folder (it need not exist yet)."""
    folder = os.environ.get(DATA_DIR_ENV)
    if not folder:
        import platformdirs

        folder = platformdirs.user_data_dir("companion")
    return Path(folder)


def installed_routines_dir() -> Path:
    """Where installed routine packs live, one folder per name (it need not exist yet)."""
    return user_data_dir() / "routines"


def installed_routine_file(name: str) -> Path | None:
    """The routine file of the installed pack ``name``, if there is one."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = installed_routines_dir() / name / ROUTINE_FILE
    return path if path.is_file() else None
