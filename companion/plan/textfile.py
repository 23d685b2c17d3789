"""Reading a small text file a person points us at (a routine, the settings file) without trusting it.

``read_text_file`` refuses, before reading a byte, anything that is not a regular file — a FIFO (reading
would wait forever for a writer), a character device such as ``/dev/zero`` (endless), a folder — and any
file larger than the caller's limit, so a mistyped path can neither hang the program nor fill its memory.
The file is opened non-blocking and checked again on the open descriptor, so swapping a FIFO in after
the first check changes nothing; the read itself stops one byte past the limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from companion.errors import BadInputError

ROUTINE_MAX_BYTES = 1 << 20      # 1 MiB: the longest built-in routine is ~10 kB
SETTINGS_MAX_BYTES = 64 << 10    # 64 KiB: a full settings file is under 1 kB
TOML_TOO_DEEP = "nested too deeply (arrays or tables inside each other hundreds of levels deep)"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_text_file(path: Path, *, max_bytes: int, what: str, error: type[BadInputError],
                   where: str | None = None) -> str:
    """The UTF-8 text of ``path``, or ``error`` naming the file and why (not a regular file, larger than
    ``max_bytes``, unreadable, not UTF-8). ``FileNotFoundError`` passes through: a missing file can mean
    "use the defaults". ``what`` names the file's role in messages ("routine file", "settings file");
    ``where`` starts each message (default: the path)."""
    where = where or str(path)

    def refuse(why: str) -> BadInputError:
        return error(f"{where}: {why}", hint=f"give the path of a {what} (a TOML text file)")

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise
    except OSError as err:
        raise refuse(f"cannot read the {what}: {err.strerror}") from err
    if not stat.S_ISREG(mode):
        raise refuse(f"{_kind(mode)}, not a {what}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise refuse(f"cannot read the {what}: {err.strerror}") from err
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise refuse(f"{_kind(info.st_mode)}, not a {what}")
        if info.st_size > max_bytes:
            raise refuse(f"{info.st_size} bytes is too large for a {what} (at most {max_bytes} bytes)")
        try:
            raw = file.read(max_bytes + 1)
        except OSError as err:
            raise refuse(f"cannot read the {what}: {err.strerror}") from err
    if len(raw) > max_bytes:
        raise refuse(f"too large for a {what} (at most {max_bytes} bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{where}: not a text file (UTF-8 expected)") from err
