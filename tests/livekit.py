"""The live player as a person meets it, for the tests and scripts/bench_keys.py (one copy of each helper).

``PtyPlayer``: ``companion play`` with a pseudo terminal for its keyboard and screen; ``drain_into``: read
a child's pipe or pty on a thread so that it never blocks on a full buffer; ``Capture``: parec on a sink's
monitor, every chunk kept with its arrival time, which gives the capture a clock (``t0``, or per chunk
``ends``/``arrivals``) to time keys against.
"""

from __future__ import annotations

import os
import pty
import subprocess
import threading
import time
from collections.abc import Sequence

import numpy as np


def drain_into(fd: int, chunks: list[bytes]) -> None:
    """Read ``fd`` (a pipe or a pseudo terminal's master) into ``chunks`` until it closes: run it on a
    thread so that a child writing to it never blocks."""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        if not data:
            return
        chunks.append(data)


class Capture:
    """parec on ``sink``'s monitor, read through a pipe with the arrival time of every chunk.

    ``t0`` is the monotonic time of the capture's first frame: the smallest (arrival time - frames up to
    the chunk's end / rate) over all chunks, so process start-up and scheduling delays drop out. After
    ``stop()``, ``ends`` (frame index after each chunk) and ``arrivals`` (monotonic s) give a local clock
    instead (the null sink runs at 47,953-47,998 frames/s: one offset for a long run drifts).
    ``sound``: the ``virtual_sound`` fixture, or anything with its ``env`` (PULSE_SERVER, ..., added to
    ``os.environ``) and ``rate_hz``.
    """

    def __init__(self, sound, sink: str) -> None:
        self._proc = subprocess.Popen(["parec", f"--device={sink}.monitor", "--raw", "--format=float32le",
                                       f"--rate={sound.rate_hz}", "--channels=2", "--latency-msec=10"],
                                      stdout=subprocess.PIPE, env={**os.environ, **sound.env})
        self._rate_hz = sound.rate_hz
        self._chunks: list[tuple[float, bytes]] = []
        self.t0 = float("inf")
        self.ends = np.zeros(0, np.int64)
        self.arrivals = np.zeros(0)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        received = 0
        while chunk := self._proc.stdout.read1(65536):
            arrived = time.monotonic()
            received += len(chunk)
            self._chunks.append((arrived, chunk))
            self.t0 = min(self.t0, arrived - received // 8 / self._rate_hz)

    def stop(self) -> np.ndarray:
        """Stop recording; what the sink played, float32 (frames, 2)."""
        self._proc.terminate()
        self._proc.wait(timeout=5)
        self._reader.join(timeout=5)
        data = b"".join(chunk for _, chunk in self._chunks)
        self.ends = np.cumsum([len(chunk) for _, chunk in self._chunks], dtype=np.int64) // 8
        self.arrivals = np.array([arrived for arrived, _ in self._chunks])
        usable = len(data) - len(data) % 8
        return np.frombuffer(data[:usable], dtype="<f4").reshape(-1, 2)


class PtyPlayer:
    """``companion play ARGS`` on a pseudo terminal, as a person runs it: ``wait_for`` what it prints,
    ``press`` keys. Use it with ``with``: on leaving, a player still running is killed and both ends of
    the terminal are closed (a player left waiting on its pty would outlive the test)."""

    def __init__(self, companion: str, args: Sequence[str], env: dict[str, str]) -> None:
        self.master, self._slave = pty.openpty()
        self.proc = subprocess.Popen([companion, "play", *args], stdin=self._slave, stdout=self._slave,
                                     stderr=self._slave, env=env)
        self.chunks: list[bytes] = []
        threading.Thread(target=drain_into, args=(self.master, self.chunks), daemon=True).start()

    @property
    def output(self) -> bytes:
        return b"".join(self.chunks)

    def wait_for(self, marker: bytes = b"Playing", timeout_s: float = 30.0) -> None:
        """Return once ``marker`` was printed; AssertionError (with the last output) if the player ended
        or ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        while marker not in self.output:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"companion play never printed {marker!r}: {self.output[-500:]!r}")
            time.sleep(0.01)

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def __enter__(self) -> "PtyPlayer":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self._slave)
        os.close(self.master)
