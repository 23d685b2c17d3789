"""Whether a process still runs: for the files a process leaves behind (a render's ``.partial-PID``, a
journal row of a session still playing), which belong to it only while it lives."""

from __future__ import annotations

import os


def process_alive(pid: int | None) -> bool:
    """True while ``pid`` runs (also someone else's process, which we may not signal); False for no pid."""
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):
        return False    # no process has such a number
    except PermissionError:
        return True     # someone else's process: leave what is theirs be
    return True
