"""Ctrl-C and SIGTERM during a render: noted at once, acted on between blocks.

Python raises KeyboardInterrupt wherever the main thread happens to be. While libsndfile encodes, that
is often inside one of soundfile's cffi callbacks (the file object's write or tell), where the exception
cannot propagate: cffi prints "Exception ignored from cffi callback", libsndfile sees a short write and
the render either finishes as if nothing happened (exit 0) or dies in soundfile's own assertion. So while
a file is written, both signals only set a flag; the render loop calls ``check()`` between blocks and
raises KeyboardInterrupt there, from plain Python code, where the temporary file is cleaned up and the
command line turns it into "Interrupted." and exit 130.

Signal handlers can only be set from the main thread; elsewhere ``deferred_interrupts`` changes nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """Set by SIGINT/SIGTERM; ``check()`` raises KeyboardInterrupt once it is set."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def note(self, signum: int, frame: object) -> None:  # noqa: ARG002 - signal handler signature
        self.signal = signum

    def check(self) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt

    @property
    def is_set(self) -> bool:
        return self.signal is not None


@contextmanager
def deferred_interrupts() -> Iterator[StopFlag]:
    """While inside, SIGINT and SIGTERM set the yielded flag instead of raising; handlers restored after."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {signum: signal.signal(signum, flag.note) for signum in SIGNALS}
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
