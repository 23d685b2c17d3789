"""``companion routines install``: a pack (zip) or a folder, validated whole before anything is in place.

A pack is untrusted input. In order, each check failing with one ``BadInputError`` line (exit 2):
1. the listing alone (zip central directory, or the folder walked without following links): file count,
   names (no absolute paths, drive letters, backslashes, ``..``, empty parts or control characters),
   symbolic links and special files, duplicate names (compared case- and Unicode-folded), allowed
   types (``routine.toml``, ``manifest.json``, ``clips/*`` audio, ``music/*`` audio), declared sizes
   (per file, in total, and the unpacked/packed ratio of a zip bomb);
2. the manifest: its format, and that it lists exactly the files the pack holds;
3. each file copied into a private temporary folder beside the destination, counting the bytes actually
   read (never more than declared, nor past the limits) and hashing them against the manifest;
4. the routine loaded and validated there, every clip and music path inside the pack, every clip a
   readable audio file.
Only then is the temporary folder renamed into ``<data>/routines/<name>`` (an existing one is replaced
only when asked). On any failure the temporary folder is removed: nothing is installed, nothing is left.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from companion.datadir import MANIFEST_FILE, ROUTINE_FILE, installed_routines_dir
from companion.errors import BadInputError, CompanionError
from companion.packs.limits import (AUDIO_SUFFIXES, MAX_FILE_BYTES, MAX_FILES, MAX_RATIO, MAX_TEXT_BYTES,
                                    MAX_TOTAL_BYTES, MUSIC_SUFFIXES, RATIO_APPLIES_ABOVE)
from companion.packs.manifest import Manifest, parse_manifest
from companion.terminal.text import visible


@dataclass(frozen=True)
class Entry:
    name: str                  # posix path inside the pack
    size: int                  # declared (zip) or stat (folder) size in bytes
    packed: int                # compressed size (zip); == size for a folder
    opener: Callable[[], IO[bytes]]


@dataclass(frozen=True)
class Installed:
    name: str
    manifest: Manifest
    path: Path
    replaced: bool


def install(source: Path, *, replace: bool = False, confirm: Callable[[str], bool] | None = None) -> Installed:
    """Install the pack or folder ``source`` (module docstring). ``confirm(name)`` is asked when the name
    is installed already and ``replace`` is False; without it, that is an error suggesting --replace."""
    source = Path(source)
    where = visible(str(source))
    with _entries(source, where) as entries:
        files = _check_listing(entries, where)
        manifest = parse_manifest(_read_small(files[MANIFEST_FILE], where), where)
        _check_manifest_lists(manifest, files, where)
        from companion.plan.routine import builtin_names

        if manifest.name in builtin_names():
            raise BadInputError(f"{where}: the pack is named '{manifest.name}', like a built-in routine",
                                hint="ask its author to pack it under another name")
        root = installed_routines_dir()
        made = _make_private_dirs(root)
        tmp = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
        try:
            _extract(files, manifest, tmp, where)
            _check_routine(tmp, where)
            destination = root / manifest.name
            replaced = destination.exists()
            if replaced and not replace:
                if confirm is None:
                    raise BadInputError(f"a routine named '{manifest.name}' is installed already; nothing changed",
                                        hint="add --replace to replace it")
                if not confirm(manifest.name):
                    raise CompanionError(f"kept the installed '{manifest.name}'; nothing changed")
            _move_into_place(tmp, destination)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            for folder in reversed(made):
                try:
                    folder.rmdir()
                except OSError:
                    break
            raise
    return Installed(manifest.name, manifest, destination, replaced)


# --- 1. the listing ---------------------------------------------------------------------------------------

@contextmanager
def _entries(source: Path, where: str) -> Iterator[list[Entry]]:
    if source.is_dir() and not source.is_symlink():
        yield _folder_entries(source, where)
        return
    if not source.is_file():
        raise BadInputError(f"{where}: no such pack file or folder")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as err:
        raise BadInputError(f"{where}: not a zip file, or damaged", hint="a pack is made by `companion pack`") from err
    with archive:
        entries = []
        for info in archive.infolist():
            kind = (info.external_attr >> 16) & 0o170000
            if kind == stat.S_IFLNK:
                raise BadInputError(f"{where}: '{visible(info.filename)}' is a symbolic link; packs may not hold links")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise BadInputError(f"{where}: '{visible(info.filename)}' is not a regular file")
            if info.is_dir():
                _check_name(info.filename.rstrip("/"), where, directory=True)
                continue
            entries.append(Entry(info.filename, info.file_size, info.compress_size,
                                 lambda info=info: archive.open(info)))
        yield entries


def _folder_entries(folder: Path, where: str) -> list[Entry]:
    entries = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        for name in sorted(dirs + names):
            path = Path(top) / name
            relative = path.relative_to(folder).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise BadInputError(f"{where}: '{visible(relative)}' is a symbolic link; packs may not hold links")
            if stat.S_ISDIR(mode):
                _check_name(relative, where, directory=True)
                continue
            if not stat.S_ISREG(mode):
                raise BadInputError(f"{where}: '{visible(relative)}' is not a regular file")
            size = path.lstat().st_size
            entries.append(Entry(relative, size, size, lambda path=path: open(path, "rb")))
            if len(entries) > MAX_FILES:
                break
    return entries


def _check_name(name: str, where: str, *, directory: bool = False) -> None:
    shown = visible(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\\" in name:
        raise BadInputError(f"{where}: '{shown}' is an absolute path; packs hold relative paths only")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadInputError(f"{where}: '{shown}' points outside the pack (path traversal)")
    if shown != name:
        raise BadInputError(f"{where}: '{shown}' has control characters in its name")
    if directory and name not in ("clips", "music"):
        raise BadInputError(f"{where}: folder '{shown}' is not allowed (only clips/ and music/)")


def _allowed(name: str) -> bool:
    if name in (ROUTINE_FILE, MANIFEST_FILE):
        return True
    folder, _, file = name.partition("/")
    suffix = Path(file).suffix.lower()
    if "/" in file or not file or file.startswith("."):
        return False
    return (folder == "clips" and suffix in AUDIO_SUFFIXES) or (folder == "music" and suffix in MUSIC_SUFFIXES)


def _check_listing(entries: list[Entry], where: str) -> dict[str, Entry]:
    if len(entries) > MAX_FILES:
        raise BadInputError(f"{where}: more than {MAX_FILES} files; a pack holds at most {MAX_FILES}")
    files: dict[str, Entry] = {}
    folded: dict[str, str] = {}
    total = 0
    for entry in entries:
        _check_name(entry.name, where)
        key = unicodedata.normalize("NFC", entry.name).casefold()
        if key in folded:
            raise BadInputError(f"{where}: '{visible(entry.name)}' is in the pack twice (duplicate names)")
        folded[key] = entry.name
        if not _allowed(entry.name):
            raise BadInputError(f"{where}: '{visible(entry.name)}' is not an allowed file type (a pack holds "
                                f"routine.toml, manifest.json, clips/ {'/'.join(sorted(AUDIO_SUFFIXES))} "
                                f"and music/ audio)")
        limit = MAX_TEXT_BYTES if entry.name in (ROUTINE_FILE, MANIFEST_FILE) else MAX_FILE_BYTES
        if entry.size > limit:
            raise BadInputError(f"{where}: '{visible(entry.name)}' is {_size(entry.size)}; "
                                f"at most {_size(limit)} allowed")
        if entry.size > RATIO_APPLIES_ABOVE and entry.size > MAX_RATIO * max(entry.packed, 1):
            raise BadInputError(f"{where}: '{visible(entry.name)}' unpacks {entry.size // max(entry.packed, 1)} "
                                "times larger than it is packed (a zip bomb?)")
        total += entry.size
        files[entry.name] = entry
    if total > MAX_TOTAL_BYTES:
        raise BadInputError(f"{where}: unpacks to {_size(total)}; a pack may hold at most {_size(MAX_TOTAL_BYTES)}")
    for required in (MANIFEST_FILE, ROUTINE_FILE):
        if required not in files:
            raise BadInputError(f"{where}: {required} is missing; this is not a companion pack",
                                hint="a pack is made by `companion pack`")
    return files


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 1024:.0f} KiB"


# --- 2. the manifest ---------------------------------------------------------------------------------------

def _read_small(entry: Entry, where: str) -> bytes:
    with entry.opener() as handle:
        data = handle.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise BadInputError(f"{where}: {entry.name} is larger than {MAX_TEXT_BYTES // 1024} KiB")
    return data


def _check_manifest_lists(manifest: Manifest, files: dict[str, Entry], where: str) -> None:
    held = set(files) - {MANIFEST_FILE}
    listed = set(manifest.files)
    for name in sorted(held - listed):
        raise BadInputError(f"{where}: '{visible(name)}' is in the pack but not in its manifest")
    for name in sorted(listed - held):
        raise BadInputError(f"{where}: the manifest lists '{visible(name)}', which the pack does not hold")


# --- 3. extraction -----------------------------------------------------------------------------------------

def _extract(files: dict[str, Entry], manifest: Manifest, tmp: Path, where: str) -> None:
    total = 0
    for name, entry in files.items():
        target = tmp / name
        target.parent.mkdir(mode=0o700, exist_ok=True)
        digest = hashlib.sha256()
        written = 0
        try:
            with entry.opener() as source, open(target, "xb") as out:
                os.chmod(target, 0o600)
                while chunk := source.read(1 << 20):
                    written += len(chunk)
                    total += len(chunk)
                    if written > entry.size or total > MAX_TOTAL_BYTES:
                        raise BadInputError(f"{where}: '{visible(name)}' unpacks to more than it declares "
                                            f"({entry.size} bytes; a zip bomb?)")
                    digest.update(chunk)
                    out.write(chunk)
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise BadInputError(f"{where}: '{visible(name)}' is damaged: {err}") from err
        if written != entry.size:
            raise BadInputError(f"{where}: '{visible(name)}' holds {written} bytes, not the {entry.size} it declares")
        if name != MANIFEST_FILE and digest.hexdigest() != manifest.files[name]:
            raise BadInputError(f"{where}: '{visible(name)}' does not match its sha256 in the manifest "
                                "(changed or damaged after packing)")


# --- 4. the routine ----------------------------------------------------------------------------------------

def _check_routine(tmp: Path, where: str) -> None:
    import soundfile

    from companion.plan.routine import load_routine

    try:
        routine = load_routine(tmp / ROUTINE_FILE)
    except BadInputError as err:
        message = str(err).replace(str(tmp / ROUTINE_FILE), f"{ROUTINE_FILE}")
        raise BadInputError(f"{where}: the routine does not validate: {visible(message)}") from err
    root = tmp.resolve()
    for step in routine.steps:
        for line in step.lines:
            if line.clip is None:
                continue
            if not line.clip.resolve().is_relative_to(root):
                raise BadInputError(f"{where}: step '{step.id}' names a clip outside the pack")
            try:
                soundfile.info(str(line.clip))
            except Exception as err:  # noqa: BLE001 - any libsndfile refusal means: not audio
                raise BadInputError(f"{where}: clip '{visible(line.clip.name)}' is not readable audio") from err
    for item in routine.options.music:
        if item not in ("builtin", "none") and not Path(item).resolve().is_relative_to(root):
            raise BadInputError(f"{where}: session.music names a path outside the pack")


# --- in place ----------------------------------------------------------------------------------------------

def _make_private_dirs(root: Path) -> list[Path]:
    """Create ``root`` and missing parents 0700; return those created (to remove them on failure)."""
    missing = [p for p in [root, *root.parents] if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
    return list(reversed(missing))


def _move_into_place(tmp: Path, destination: Path) -> None:
    os.chmod(tmp, 0o700)
    if not destination.exists():
        os.rename(tmp, destination)
        return
    old = Path(tempfile.mkdtemp(prefix=".removed-", dir=destination.parent))
    os.rename(destination, old / "routine")
    try:
        os.rename(tmp, destination)
    except BaseException:
        os.rename(old / "routine", destination)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
