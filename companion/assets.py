"""Where the bundled assets live, in a source checkout and in an installed package alike.

The top-level ``audio/`` folder is installed as the package ``companion.audio`` (see pyproject.toml), so
``importlib.resources`` finds it in both cases; built-in routines are package data of
``companion.routines``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def audio_dir() -> Path:
    """The bundled ``audio/`` folder (music, narration clips, chimes)."""
    return Path(str(resources.files("companion.audio")))


def routines_dir() -> Path:
    """The folder holding the built-in routine files (``*.toml``)."""
    return Path(str(resources.files("companion.routines")))
