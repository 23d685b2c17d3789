"""The process's stderr: one lock for companion's own lines, and a way to keep C libraries' chatter off it.

sounddevice silences PortAudio's and ALSA's C-level chatter while it initialises by pointing file
descriptor 2 at /dev/null for a moment. ``companion play`` does that import on a background thread (to
overlap the device scan with building the session), so anything written to stderr in that window would
vanish. The import holds ``STDERR_LOCK``; companion's error and warning lines take it before writing.

C libraries write to file descriptor 2 directly: libmpg123 inside libsndfile reading a damaged mp3
("Note: Illegal Audio-MPEG-Header ...", "Xing stream size off"), ALSA during playback ("underrun
occurred"). ``quiet_c_stderr()`` points descriptor 2 at /dev/null for the duration of such calls, while
Python's ``sys.stderr`` (click's error lines, warnings, the log handler) is moved to a copy of the real
descriptor, so companion's own messages still reach the terminal. It nests and may be entered from
several threads at once: the first entry redirects, the last exit restores.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STDERR_LOCK = threading.RLock()

_depth = 0
_real_fd: int | None = None            # a copy of descriptor 2 as it first was: kept open for good
_real_stream = None                    # a text stream on that copy: kept open for good
_python_stderr = None                  # sys.stderr as it was, put back on the last exit


@contextmanager
def quiet_c_stderr() -> Iterator[None]:
    """While inside: C code writing to descriptor 2 writes to /dev/null; ``sys.stderr`` still reaches the
    real stderr. Does nothing when descriptor 2 cannot be copied (closed).

    The stream that stands in for ``sys.stderr`` is never closed: another thread may have picked it up
    while it was in place (a progress bar holds on to ``sys.stderr``) and write to it after the last exit.
    """
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _depth, _real_fd, _real_stream, _python_stderr
    with STDERR_LOCK:
        _depth += 1
        if _depth > 1:
            return
        try:
            sys.stderr.flush()
            if _real_fd is None:
                _real_fd = os.dup(2)
        except (OSError, ValueError, AttributeError):
            _depth -= 1
            return
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        _python_stderr = sys.stderr
        if _writes_to_fd2(sys.stderr):      # not when a test or a pipe wrapper has replaced sys.stderr
            if _real_stream is None:
                _real_stream = open(_real_fd, "w", encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                                    errors="backslashreplace", buffering=1, closefd=False)
            sys.stderr = _real_stream


def _leave() -> None:
    global _depth, _python_stderr
    with STDERR_LOCK:
        if _depth == 0:
            return
        _depth -= 1
        if _depth > 0 or _python_stderr is None:
            return
        if sys.stderr is _real_stream:
            sys.stderr.flush()
            sys.stderr = _python_stderr
        os.dup2(_real_fd, 2)
        _python_stderr = None


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (OSError, ValueError, AttributeError):
        return False
