"""The input side of the sound device: list microphones, pick one, record a take with a live level.

``output.player`` owns playback; this opens the input stream (sounddevice itself comes through
``sound_devices``), and only when recording or listing devices. The input callback only copies ``indata``
into a buffer that was allocated before the stream started (``MAX_TAKE_S`` long) and advances a frame
count; the main thread reads the frames written so far to draw the level meter and, at the end, the take.
No lock: the callback is the only writer of the count, and the main thread only reads below it.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from companion.errors import DeviceError
from companion.sound_devices import SoundDevice, import_sounddevice, list_devices, pick_device

RATE_HZ = 48_000
MAX_TAKE_S = 120.0            # a take stops by itself after this: a line is seconds long
CLIP_WARN_DBFS = -0.5         # a peak at or above this is shown as clipping
PLAYBACK_LATENCY_S = 0.3      # device buffer for listening back
NO_INPUT_MESSAGE = ("no input device (microphone) found; connect or enable one (`companion devices` lists "
                    "them), or record elsewhere and use `companion record ROUTINE --import FOLDER`")
NO_PORTAUDIO_MESSAGE = ("the PortAudio library is not installed, so companion cannot record (install "
                        "libportaudio2, or run scripts/install-system.sh); `companion record ROUTINE --import "
                        "FOLDER` uses recordings made elsewhere")


InputDevice = SoundDevice        # a device that can record (``channels``: its input channels)


def _sounddevice() -> ModuleType:
    return import_sounddevice(NO_PORTAUDIO_MESSAGE)


def list_input_devices() -> list[InputDevice]:
    """Every device PortAudio can record from, in PortAudio's order. May be empty."""
    sd = _sounddevice()
    try:
        return list_devices(sd, "input")
    except sd.PortAudioError:
        return []


def resolve_input(spec: str | None) -> InputDevice:
    """The input named by ``spec`` (an index or part of a name; None: the default). DeviceError when there
    is no input at all, BadInputError listing the choices when ``spec`` matches none or several."""
    devices = list_input_devices()
    if not devices:
        raise DeviceError(NO_INPUT_MESSAGE)
    return pick_device(devices, spec, named_by="--input", direction="input")


class Recorder:
    """One take from ``device``: ``start()``, read ``level_db()`` while it runs, ``stop()`` -> samples."""

    def __init__(self, device: InputDevice, rate_hz: int = RATE_HZ) -> None:
        self.device = device
        self.rate_hz = rate_hz
        self._buffer = np.zeros(int(MAX_TAKE_S * rate_hz), np.float32)
        self._written = 0
        self._seen = 0
        self._stream = None
        self.overflows = 0          # input overflows (audio lost) in the current take

    def _callback(self, indata, frames, time_info, status) -> None:  # noqa: ARG002 - sounddevice API
        if status.input_overflow:
            self.overflows += 1
        start = self._written
        count = min(frames, len(self._buffer) - start)
        if count > 0:
            self._buffer[start: start + count] = indata[:count, 0]
            self._written = start + count

    def start(self) -> None:
        sd = _sounddevice()
        self._written = self._seen = self.overflows = 0
        try:
            self._stream = sd.InputStream(device=self.device.index, channels=1, samplerate=self.rate_hz,
                                          dtype="float32", callback=self._callback)
            self._stream.start()
        except sd.PortAudioError as err:
            self._stream = None
            raise DeviceError(f"cannot record from {self.device.describe()}: {err}",
                              hint="check it with `companion devices`, or use --import FOLDER") from err

    @property
    def seconds(self) -> float:
        return self._written / self.rate_hz

    @property
    def full(self) -> bool:
        return self._written >= len(self._buffer)

    def level_db(self) -> float:
        """Peak level in dBFS of what arrived since the last call (-120 when nothing did)."""
        end = self._written
        new = self._buffer[self._seen: end]
        self._seen = end
        peak = float(np.max(np.abs(new))) if len(new) else 0.0
        return 20.0 * np.log10(peak) if peak > 1e-6 else -120.0

    def stop(self) -> np.ndarray:
        """Stop the stream; the take so far (a copy)."""
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None
        return self._buffer[: self._written].copy()


def play_back(samples: np.ndarray, rate_hz: int) -> None:
    """Play a take on the default output and wait until it has been heard (``l``: listen back)."""
    sd = _sounddevice()
    # A 0.3 s device buffer (as the player's): with PortAudio's low default the busy machine dropped two
    # 26 ms blocks of a 4 s take. The silence after it: PortAudio drops the last latency's worth otherwise.
    padded = np.concatenate([np.asarray(samples, np.float32), np.zeros(int(0.4 * rate_hz), np.float32)])
    try:
        sd.play(padded, rate_hz, latency=PLAYBACK_LATENCY_S)
        sd.wait()
    except sd.PortAudioError as err:
        raise DeviceError(f"cannot play the take back: {err}") from err
