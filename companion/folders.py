"""Where companion keeps its own files: the cache (measured music, synthesized speech), the settings, and
the user data (installed routine packs, the journal).

``$COMPANION_CACHE_DIR``, ``$COMPANION_CONFIG_DIR`` and ``$COMPANION_DATA_DIR`` override the platform's
folders (tests, and people who keep everything on one disk); every module that stores something asks
here, so one variable moves all of it. ``make_private_folder`` creates them 0700: they name a person's own files.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "COMPANION_CACHE_DIR"
CONFIG_ENV = "COMPANION_CONFIG_DIR"
DATA_ENV = "COMPANION_DATA_DIR"


def cache_dir() -> Path:
    """The cache folder (it need not exist yet): ``$COMPANION_CACHE_DIR``, else the platform's."""
    return _folder(CACHE_ENV, "user_cache_dir")


def voice_cache_dir() -> Path:
    """Synthesized speech, under the cache folder. Here, not in ``narration.voicing``, so that checking an
    output path against it (``output.destination``) does not load the audio libraries."""
    return cache_dir() / "voice"


def config_dir() -> Path:
    """The settings folder (it need not exist yet): ``$COMPANION_CONFIG_DIR``, else the platform's."""
    return _folder(CONFIG_ENV, "user_config_dir")


def data_dir() -> Path:
    """The user data folder (it need not exist yet): ``$COMPANION_DATA_DIR``, else the platform's."""
    return _folder(DATA_ENV, "user_data_dir")


def _folder(env: str, platform_call: str) -> Path:
    given = os.environ.get(env)
    if given:
        return Path(given).expanduser()
    import platformdirs

    return Path(getattr(platformdirs, platform_call)("companion"))


PRIVATE_MODE = 0o700


def make_private_folder(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) readable by its owner only; return it. Raises OSError."""
    folder = Path(folder)
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for level in reversed(missing):
        try:
            level.mkdir(mode=PRIVATE_MODE)
        except FileExistsError:
            continue                    # made meanwhile by another process: not ours to change
        os.chmod(level, PRIVATE_MODE)   # mkdir's mode is filtered by the umask
    if not folder.is_dir():
        raise NotADirectoryError(20, "not a folder", str(folder))
    return folder
