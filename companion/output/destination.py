"""Where a rendered file may go: never over a session's own input, never over a file without asking.

A render replaces its output by renaming a finished temporary file over it. Aimed at a person's own song,
a recorded voice clip, the routine or the settings file (directly, through a symlink, or through a hard
link), that rename would destroy what the session was built from. ``check_destination`` refuses such an
``-o`` before any work, with one line and exit 2, by comparing the output (and the ``.cue`` sheet written
beside a WAV) with every input both by resolved path and by ``os.stat`` device and inode.

An existing unrelated file is replaced only when the person says so: on a terminal they are asked,
otherwise the render is refused unless ``--force`` was given.

With no sound device, ``play`` and ``ambient`` render to a file instead; ``fallback_file`` picks it: the
person's Music folder (platformdirs) when it exists and is writable, else their home folder, never the
current folder by accident, and a new name beside any earlier file (``-2``, ``-3`` ...).

Temporary files are named ``.<name>.partial-<pid>``. A render that was killed (SIGKILL, power cut)
leaves one behind; ``sweep_stale_partials`` removes those whose process is no longer alive, the next
time anything is rendered into that folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from companion.errors import BadInputError
from companion.processes import process_alive
from companion.terminal.text import visible

PARTIAL_MARK = ".partial-"
_PARTIAL_NAME = re.compile(r"^\..+\.partial-(\d+)(\.meta)?$")   # .meta: ffmpeg's metadata input


def partial_name(path: Path, pid: int | None = None) -> Path:
    """The temporary name ``path`` is written under until it is complete (hidden, tagged with our PID)."""
    return path.with_name(f".{path.name}{PARTIAL_MARK}{os.getpid() if pid is None else pid}")


def sidecar_of(path: Path) -> Path | None:
    """The file written beside ``path``: a ``.cue`` sheet for a WAV, nothing for the other formats."""
    return path.with_suffix(".cue") if path.suffix.lower() == ".wav" else None


@dataclass
class SessionInputs:
    """Everything a session reads: files compared one by one, folders that an output may not enter."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)

    def add_file(self, path: str | Path | None) -> None:
        if path is not None:
            self.files.append(Path(path))

    def add_folder(self, path: str | Path | None) -> None:
        if path is not None:
            self.folders.append(Path(path))


@dataclass(frozen=True)
class _Identity:
    resolved: Path
    device_inode: tuple[int, int] | None
    links: int = 0


def _identity(path: Path) -> _Identity:
    resolved = Path(os.path.realpath(os.path.expanduser(path)))
    try:
        st = os.stat(resolved)
        device_inode = (st.st_dev, st.st_ino)
        links = st.st_nlink
    except OSError:
        device_inode, links = None, 0
    return _Identity(resolved, device_inode, links)


def _input_named_by(target: Path, inputs: SessionInputs) -> Path | None:
    """The input that writing ``target`` would destroy, if any."""
    mine = _identity(target)
    for given in inputs.files:
        theirs = _identity(given)
        if theirs.resolved == mine.resolved or (
                mine.device_inode is not None and theirs.device_inode == mine.device_inode):
            return given
    for folder in inputs.folders:
        inside = _identity(folder).resolved
        if mine.resolved == inside or inside in mine.resolved.parents:
            return folder
        if mine.links > 1 and _hard_link_in(folder, mine.device_inode):
            return folder
    return None


def _hard_link_in(folder: Path, device_inode: tuple[int, int]) -> bool:
    """Whether a file under ``folder`` is ``device_inode`` (only asked of a target with several links)."""
    device, inode = device_inode
    try:
        if os.stat(folder).st_dev != device:
            return False
    except OSError:
        return False
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                st = os.stat(os.path.join(root, name), follow_symlinks=False)
            except OSError:
                continue
            if st.st_ino == inode and st.st_dev == device:
                return True
    return False


def session_inputs(*, routine=None, music: Iterable[str | Path] = (), settings_file: Path | None = None,
                   clips: Iterable[Path] = ()) -> SessionInputs:
    """What a session reads: ``routine`` (a ``plan.routine.Routine``: its file and recorded clips), the
    music paths as the session will get them ("builtin"/"none" or files and folders: every audio file
    found in them), the settings file, extra ``clips``, and folders no output may enter: the bundled audio
    and routines and companion's caches (measurements, synthesized voice)."""
    from companion.assets import audio_dir, routines_dir
    from companion.errors import CompanionError
    from companion.media import library
    from companion.folders import voice_cache_dir

    inputs = SessionInputs()
    if routine is not None:
        inputs.add_file(routine.source)
        for step in routine.steps:
            for line in step.lines:
                inputs.add_file(line.clip)
    for clip in clips:
        inputs.add_file(clip)
    user_music = [m for m in music if str(m) not in ("builtin", "none") and Path(m).expanduser().exists()]
    try:
        inputs.files.extend(library.find_tracks(user_music, warn=False))
    except CompanionError:
        pass                    # the session reports a bad music path itself
    inputs.add_file(settings_file)
    for folder in (audio_dir(), routines_dir(), library.cache_path().parent, voice_cache_dir()):
        inputs.add_folder(folder)
    return inputs


Ask = Callable[[str], bool]


def check_destination(output: Path, inputs: SessionInputs, *, force: bool = False, ask: Ask | None = None) -> None:
    """Refuse an ``output`` that would destroy an input or silently replace a file; return when it is safe.

    - ``output`` (or the ``.cue`` beside a WAV) is an input of the session, by path, symlink or hard link:
      BadInputError (exit 2), whatever ``force`` says.
    - it exists and is unrelated: replaced when ``force``; else ``ask(question)`` decides (a terminal's
      confirmation; None when nobody can answer) and a "no" or no one to ask is a BadInputError naming
      ``--force``.
    """
    targets = [output] + [s for s in (sidecar_of(output),) if s is not None]
    for target in targets:
        victim = _input_named_by(target, inputs)
        if victim is not None:
            what = "it is" if target == output else f"{target.name} (the cue sheet written beside it) is"
            raise BadInputError(f"refusing to write '{visible(output)}': {visible(what)} an input of this session "
                                f"({visible(victim)})",
                                hint="choose another -o file; nothing was written")
    existing = [t for t in targets if os.path.lexists(t)]
    if not existing or force:
        return
    names = " and ".join(f"'{visible(t)}'" for t in existing)
    if ask is not None and ask(f"{names} already exist{'s' if len(existing) == 1 else ''}. Replace?"):
        return
    raise BadInputError(f"{names} already exist{'s' if len(existing) == 1 else ''}; not replaced",
                        hint="add --force (-f) to replace, or choose another -o file")


def fallback_file(stem: str, suffix: str = ".mp3") -> Path:
    """``<Music>/<stem><suffix>``, or ``~/<stem><suffix>`` when the Music folder is missing or not writable;
    ``<stem>-2<suffix>``, ``-3`` ... when the name is taken (an earlier session is never replaced)."""
    import platformdirs

    folder = Path(platformdirs.user_music_dir())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):   # no Music folder, a read-only one
        folder = Path.home()
    path = folder / f"{stem}{suffix}"
    number = 2
    while os.path.lexists(path):
        path = folder / f"{stem}-{number}{suffix}"
        number += 1
    return path


def sweep_stale_partials(folder: Path) -> list[Path]:
    """Remove ``.<name>.partial-<pid>`` files in ``folder`` whose render process is no longer alive.

    Only names of exactly that shape are touched, and never one whose PID still runs (another render
    may be writing it). Returns what was removed; a file that cannot be removed is left alone.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PARTIAL_NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False) or process_alive(int(match.group(1))):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed
