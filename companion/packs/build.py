"""``companion pack``: a routine, its recorded clips and (``--with-music``) its music in one zip.

Inside the pack the routine is always ``routine.toml``, its clips are ``clips/<file>`` and its music
``music/<file>``; the routine's ``clip =`` and ``music =`` entries are rewritten to those paths with
tomlkit, so the therapist's comments travel with it. Without ``--with-music`` a routine that names its
own music files is packed with ``music = "builtin"`` (the patient's copy plays the built-in music). The
zip is written under a temporary name and renamed when complete; an existing file is never replaced
unless asked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from companion.datadir import MANIFEST_FILE, ROUTINE_FILE
from companion.errors import BadInputError
from companion.packs.limits import AUDIO_SUFFIXES, MAX_FILES, MAX_TOTAL_BYTES, MUSIC_SUFFIXES
from companion.packs.manifest import Manifest, pack_name, sha256_file
from companion.plan.routine import Routine, load_routine


@dataclass(frozen=True)
class PackResult:
    path: Path
    manifest: Manifest
    music_dropped: bool        # the routine named music that was left out (no --with-music)
    total_bytes: int


def build_pack(routine_arg: str, output: Path, *, author: str, with_music: bool = False,
               force: bool = False) -> PackResult:
    """Bundle the routine into ``output`` (see the module docstring)."""
    routine = load_routine(routine_arg)
    if routine.source is None or routine.builtin is not None:
        raise BadInputError(f"'{routine_arg}' is a built-in routine; pack your own routine file",
                            hint=f"companion routines new my-routine.toml --from {routine_arg}")
    output = Path(output)
    if output.suffix.lower() != ".zip":
        raise BadInputError(f"-o {output}: a pack is a .zip file", hint=f"try -o {output.stem}.companion.zip")
    if output.exists() and not force:
        raise BadInputError(f"{output}: the file already exists; nothing was written",
                            hint="choose another name, or add --force to replace it")
    files = _clip_files(routine)
    music = _music_files(routine) if with_music else {}
    text, music_dropped = _packed_routine_text(routine, files, music, with_music)
    total = sum(p.stat().st_size for p in [*files.values(), *music.values()]) + len(text.encode())
    if len(files) + len(music) + 2 > MAX_FILES or total > MAX_TOTAL_BYTES:
        raise BadInputError(f"the pack would hold {len(files) + len(music) + 2} files, {total / 2**20:.0f} MiB; "
                            f"a pack holds at most {MAX_FILES} files and {MAX_TOTAL_BYTES // 2**20} MiB",
                            hint="leave out the music (no --with-music), or use fewer, shorter music files")
    return _write_zip(output, routine, author, text, {**files, **music}, music_dropped, total)


def _clip_files(routine: Routine) -> dict[str, Path]:
    """Pack path -> file, for every recorded clip (names made unique)."""
    out: dict[str, Path] = {}
    taken: set[str] = set()
    for step in routine.steps:
        for line in step.lines:
            if line.clip is not None and line.clip not in out.values():
                out[_unique(f"clips/{line.clip.name}", taken)] = line.clip
    for name, path in out.items():
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            raise BadInputError(f"clip {path}: packs carry {', '.join(sorted(AUDIO_SUFFIXES))} files only",
                                hint="import it again with `companion record FILE --import FOLDER` (writes FLAC)")
    return out


def _music_files(routine: Routine) -> dict[str, Path]:
    found: list[Path] = []
    for item in routine.options.music:
        if item in ("builtin", "none"):
            continue
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES)
        elif path.is_file() and path.suffix.lower() in MUSIC_SUFFIXES:
            found.append(path)
        else:
            raise BadInputError(f"music {path}: not found or not a {'/'.join(sorted(MUSIC_SUFFIXES))} file")
    taken: set[str] = set()
    return {_unique(f"music/{p.name}", taken): p for p in found}


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    candidate, number = name, 2
    while candidate.lower() in taken:
        candidate, number = f"{stem}-{number}{dot}{suffix}", number + 1
    taken.add(candidate.lower())
    return candidate


def _packed_routine_text(routine: Routine, clips: dict[str, Path], music: dict[str, Path],
                         with_music: bool) -> tuple[str, bool]:
    """The routine's own text with clip and music paths pointing inside the pack (comments kept)."""
    document = tomlkit.parse(routine.source.read_text(encoding="utf-8"))
    by_file = {path: name for name, path in clips.items()}
    base = routine.source.parent
    for step in document.get("steps", []):
        for item in step.get("lines", []):
            if not isinstance(item, str) and "clip" in item:
                item["clip"] = by_file[(base / Path(str(item["clip"])).expanduser()).resolve()]
    own_music = [m for m in routine.options.music if m not in ("builtin", "none")]
    session = document.get("session")
    dropped = False
    if own_music and session is not None:
        if with_music:
            session["music"] = "music"
        else:
            session["music"] = "builtin"
            dropped = True
    return tomlkit.dumps(document), dropped


def _write_zip(output: Path, routine: Routine, author: str, text: str, files: dict[str, Path],
               music_dropped: bool, total: int) -> PackResult:
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}-", suffix=".tmp")
    os.close(handle)
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            hashes = {ROUTINE_FILE: hashlib.sha256(text.encode("utf-8")).hexdigest()}
            archive.writestr(_entry(ROUTINE_FILE), text, compress_type=zipfile.ZIP_DEFLATED)
            for name, path in files.items():
                hashes[name] = sha256_file(path)
                archive.write(path, name, compress_type=zipfile.ZIP_STORED)   # audio is compressed already
            created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
            manifest = Manifest(name=pack_name(output.name.removesuffix(".zip").removesuffix(".companion")),
                                title=routine.name, author=author, created=created, files=hashes)
            archive.writestr(_entry(MANIFEST_FILE), manifest.to_json(), compress_type=zipfile.ZIP_DEFLATED)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return PackResult(output, manifest, music_dropped, total)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=dt.datetime.now().timetuple()[:6])
    info.external_attr = 0o644 << 16
    return info
