"""Where companion keeps its own files: the cache (measured music, synthesized speech), the settings, and
the user data (installed routine packs, the journal).

``$COMPANION_CACHE_DIR``, ``$COMPANION_CONFIG_DIR`` and ``$COMPANION_DATA_DIR`` override the platform's
folders (tests, and people who keep everything on one disk); every module that stores something asks
here, so one variable moves all of it. ``make_private_folder`` creates them 0700: they name a person's own files.

A folder made by an older companion (before 0700) may still be 0755. The first time a process asks for
a folder, ``tighten_private_folder`` makes it 0700 and the files in it 0600, with one warning, but only
when the folder is companion's: owned by this user, not a symlink, and holding nothing but the names
companion writes there (``OWN_ENTRIES``), so ``$COMPANION_DATA_DIR=~`` never tightens a home folder.
Symlinks inside are never followed, and a folder that is already private is left without a word.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("companion")

CACHE_ENV = "COMPANION_CACHE_DIR"
CONFIG_ENV = "COMPANION_CONFIG_DIR"
DATA_ENV = "COMPANION_DATA_DIR"


# What companion writes at the top of each folder (media.track_cache, narration.voicing; plan.settings;
# journal.store, datadir). tests/test_folders.py checks these against the modules' own names.
OWN_ENTRIES: dict[str, tuple[str, ...]] = {
    CACHE_ENV: ("library.sqlite", "library.sqlite-*", "library.sqlite.broken-*", "voice"),
    CONFIG_ENV: ("config.toml",),
    DATA_ENV: ("journal.sqlite3", "journal.sqlite3-*", "journal.damaged-*", "routines"),
}


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
        folder = Path(given).expanduser()
    else:
        import platformdirs

        folder = Path(getattr(platformdirs, platform_call)("companion"))
    if (env, folder) not in _checked:       # first use in this process: an older companion's loose folder
        _checked.add((env, folder))
        _tighten_with_warning(folder, OWN_ENTRIES[env])
    return folder


_checked: set[tuple[str, Path]] = set()


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


def tighten_private_folder(folder: Path, own_entries: tuple[str, ...]) -> int:
    """Make an existing loose ``folder`` 0700 and what is in it 0700 (folders) / 0600 (files); return how
    many were changed, 0 when it was left alone: missing, a symlink, not this user's, already private, or
    holding a name that matches none of ``own_entries`` (glob patterns; then it is not companion's).

    Each entry is opened with O_NOFOLLOW and changed through that descriptor, so a symlink is never
    followed out of the folder, and only what this user owns is changed. Raises OSError when a loose
    folder of ours cannot be changed.
    """
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return 0        # missing, a file, a symlink (ELOOP), unreadable: the code that uses it says so
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or not info.st_mode & _LOOSE:
            return 0
        names = os.listdir(fd)
        if not all(any(fnmatch.fnmatchcase(name, own) for own in own_entries) for name in names):
            return 0
        os.fchmod(fd, PRIVATE_MODE)
        return 1 + _tighten_inside(fd, depth=0)
    finally:
        os.close(fd)


_LOOSE = stat.S_IRWXG | stat.S_IRWXO
_MAX_DEPTH = 16          # routines/<name>/clips/... is three deep; a deeper tree is not companion's


def _tighten_inside(dir_fd: int, depth: int) -> int:
    changed = 0
    for name in os.listdir(dir_fd):
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dir_fd)
        except OSError:
            continue                        # a symlink (ELOOP), or nothing this user may open
        try:
            info = os.fstat(fd)
            if info.st_uid != os.geteuid():
                continue
            if stat.S_ISDIR(info.st_mode):
                if info.st_mode & _LOOSE:
                    os.fchmod(fd, PRIVATE_MODE)
                    changed += 1
                if depth < _MAX_DEPTH:
                    changed += _tighten_inside(fd, depth + 1)
            elif stat.S_ISREG(info.st_mode) and info.st_mode & _LOOSE:
                os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~_LOOSE)
                changed += 1
        finally:
            os.close(fd)
    return changed


def _tighten_with_warning(folder: Path, own_entries: tuple[str, ...]) -> None:
    try:
        changed = tighten_private_folder(folder, own_entries)
    except OSError as err:
        log.warning("%s is readable by other users and could not be made private (%s)",
                    folder, err.strerror or err)
        return
    if changed:
        log.warning("%s was readable by other users; made it private to you (folders 0700, files 0600)",
                    folder)
