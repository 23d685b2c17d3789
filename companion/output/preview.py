"""Short clips on the device outside a session: the voice samples of ``companion voices --play``, and the
check-in's spoken questions (``play --check-in --speak-check-in``).

``play_clips`` is the simple one: not a session (no music, no keys), each clip decoded whole (a few
seconds), given 20 ms raised-cosine edges and 0.4 s of silence after it, and played with PortAudio's
blocking helper.

``SpokenPrompt`` speaks while the caller reads a key: ``say`` starts a clip and returns at once, ``hush``
fades whatever is playing over ``HUSH_S`` (raised cosine: no click) and returns once it is silent, so a
key pressed mid-question stops the voice within a block or two and the person never waits for it. One
stream is held open for the whole check-in; the callback only copies from a prepared clip and multiplies
by a prepared ramp (commands reach it through a queue drained at block start). ``prompt_clip`` prepares a
clip at the session's voice level, volume and balance, under the session's true-peak ceiling.

A missing device is the usual ``DeviceError``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from companion import dsp
from companion.media.clips import ClipStore
from companion.media.decode import load_clip
from companion.output.device import OutputDevice, device_buffer_s, preferred_rate_hz, sounddevice_module

GAP_S = 0.4
EDGE_S = 0.02
HUSH_S = 0.03                 # a key stops the question with this fade (raised cosine)
CEILING_DB = -1.5             # the session's true-peak ceiling (the master limiter's): a prompt stays under it
BLOCK_FRAMES = 512            # ~11 ms at 48 kHz: the hush starts within one block of the key
_SAY, _HUSH = "say", "hush"


def play_clips(paths: Sequence[Path], device: OutputDevice) -> None:
    sd = sounddevice_module()
    rate_hz = preferred_rate_hz(device)
    for path in paths:
        audio = dsp.edge_fades(load_clip(path, rate_hz), rate_hz, fade_s=EDGE_S)
        padded = np.concatenate([audio, np.zeros((int(GAP_S * rate_hz), audio.shape[1]), np.float32)])
        try:
            sd.play(padded, rate_hz, device=device.index, blocking=True)
        except sd.PortAudioError as err:
            from companion.errors import DeviceError

            raise DeviceError(f"the sound device failed ({err})") from err


def prompt_clip(path: Path, rate_hz: int, *, voice_lufs: float, gain_db: float = 0.0) -> np.ndarray:
    """``path`` as the session would speak it: levelled to ``voice_lufs`` (the mixer's voice level) and
    edge-faded like any narration clip, then ``gain_db`` (volume and voice balance) applied, and pulled
    down as a whole if that would put its true peak above ``CEILING_DB``: a question is never louder than
    the session's own voice, and never clips."""
    clip = ClipStore(rate_hz, voice_lufs).get(Path(path)) * np.float32(dsp.db_to_gain(gain_db))
    over_db = dsp.true_peak_db(clip) - CEILING_DB
    if over_db > 0:
        clip *= np.float32(dsp.db_to_gain(-over_db - 0.1))
    return np.ascontiguousarray(clip, dtype=np.float32)


class SpokenPrompt:
    """Speaks prepared clips on ``device`` while the caller reads keys (see the module docstring).

    Use as a context manager; ``close`` fades out what is playing and stops the stream. Opening raises
    ``DeviceError`` when the device cannot play (the caller then only shows the question).
    """

    def __init__(self, device: OutputDevice, rate_hz: int) -> None:
        self.rate_hz = rate_hz
        hush_frames = max(1, int(HUSH_S * rate_hz))
        self._ramp = (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, hush_frames))).astype(np.float32)[:, None]
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._clip: np.ndarray | None = None
        self._pos = 0
        self._fade_from: int | None = None
        self._quiet = threading.Event()
        self._quiet.set()
        sd = sounddevice_module()
        try:
            self._stream = sd.OutputStream(samplerate=rate_hz, blocksize=BLOCK_FRAMES, device=device.index,
                                           channels=2, dtype="float32", latency=device_buffer_s(),
                                           callback=self._callback)
            self._stream.start()
        except sd.PortAudioError as err:
            from companion.errors import DeviceError

            raise DeviceError(f"the sound device cannot play the spoken question ({err})") from err
        self.latency_s = float(self._stream.latency)

    def __enter__(self) -> SpokenPrompt:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def say(self, clip: np.ndarray) -> None:
        """Start speaking ``clip`` (from ``prompt_clip``): what was playing is hushed first."""
        self.hush()
        self._quiet.clear()
        self._commands.put((_SAY, clip))

    def hush(self) -> None:
        """Fade out what is playing over ``HUSH_S`` and return once the stream has moved past it."""
        if self._quiet.is_set():
            return
        self._commands.put((_HUSH, None))
        self._quiet.wait(timeout=HUSH_S + 4 * BLOCK_FRAMES / self.rate_hz + 0.5)

    @property
    def speaking(self) -> bool:
        return not self._quiet.is_set()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self.hush()
        try:
            # PortAudio drops about the last buffer's worth unless more is played: let silence go out first.
            threading.Event().wait(self.latency_s + 2 * BLOCK_FRAMES / self.rate_hz)
            stream.stop()
        finally:
            stream.close()

    def _callback(self, outdata: np.ndarray, frames: int, time, status) -> None:  # noqa: ARG002 - PortAudio's
        while True:
            try:
                command, clip = self._commands.get_nowait()
            except queue.Empty:
                break
            if command == _SAY:
                self._clip, self._pos, self._fade_from = clip, 0, None
            elif self._clip is not None and self._fade_from is None:
                self._fade_from = self._pos
        outdata.fill(0.0)
        clip = self._clip
        if clip is None:
            return
        pos = self._pos
        n = min(frames, len(clip) - pos)
        if n > 0:
            outdata[:n] = clip[pos:pos + n]
        if self._fade_from is not None:
            offset = pos - self._fade_from
            k = max(0, min(n, len(self._ramp) - offset))
            if k:
                outdata[:k] *= self._ramp[offset:offset + k]
            outdata[k:n] = 0.0
            if offset + frames >= len(self._ramp):
                n = len(clip) - pos        # faded out: done
        self._pos = pos + max(n, 0)
        if self._pos >= len(clip):
            self._clip = None
            self._quiet.set()
