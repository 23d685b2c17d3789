"""Writing what the journal exports (report, calendar, CSV, JSON): whole or not at all, never over a file
the user did not offer.

The text goes to a hidden temporary file in the target's folder, is flushed to disk, and is renamed over
the target in one step, so a crash or a full disk leaves the old file (or none), never half a file. An
existing file is replaced only with ``force``. Health data (report, CSV, JSON) is written 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from companion.errors import BadInputError, CompanionError


def write_new_file(path: Path, text: str, *, force: bool = False, private: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; refuse an existing file unless ``force``."""
    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; give a file name", hint="e.g. -o report.html")
    if path.exists() and not force:
        raise BadInputError(f"{path} already exists; it was left as it is", hint="add --force to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.partial-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except FileNotFoundError as err:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"cannot write {path}: the folder {folder} does not exist") from err
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise CompanionError(f"cannot write {path} ({err.strerror or err})",
                             hint="check the folder's permissions and free space") from err
    return path
