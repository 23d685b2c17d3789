"""The sound devices PortAudio offers, in either direction: the device record, the listing, and how a
``--device``/``--input`` value picks one. One implementation for playback (``output.device``) and
recording (``studio.microphone``), below both rooms; each keeps its own words for "no PortAudio" and
"no device at all", and what to do instead (render to a file, import recordings).

sounddevice is imported by the callers, lazily (``import_sounddevice``), so ``companion render`` works
on a machine without PortAudio.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from companion.errors import BadInputError, DeviceError

Direction = Literal["input", "output"]


@dataclass(frozen=True)
class SoundDevice:
    index: int
    name: str
    hostapi: str
    channels: int               # the most it takes in the device's direction
    default_rate_hz: int
    is_default: bool

    def describe(self) -> str:
        return f"{self.index}: {self.name} ({self.hostapi})"


def import_sounddevice(no_portaudio_message: str) -> ModuleType:
    """Import sounddevice on first use; a missing PortAudio library ("PortAudio library not found", an
    OSError) becomes a DeviceError with ``no_portaudio_message``."""
    try:
        import sounddevice
    except OSError as err:
        raise DeviceError(no_portaudio_message) from err
    return sounddevice


def list_devices(sd: ModuleType, direction: Direction) -> list[SoundDevice]:
    """Every device that can play (``output``) or record (``input``), in PortAudio's order; may be empty.
    Raises ``sd.PortAudioError`` when PortAudio cannot be asked (the caller says what that means)."""
    devices = sd.query_devices()
    hostapis = sd.query_hostapis()
    default = sd.default.device[0 if direction == "input" else 1]
    if default is None or default < 0:
        default = next((int(h[f"default_{direction}_device"]) for h in hostapis
                        if h[f"default_{direction}_device"] >= 0), -1)
    return [SoundDevice(index=int(d["index"]), name=str(d["name"]), hostapi=str(hostapis[d["hostapi"]]["name"]),
                        channels=int(d[f"max_{direction}_channels"]), default_rate_hz=int(d["default_samplerate"]),
                        is_default=int(d["index"]) == default)
            for d in devices if d[f"max_{direction}_channels"] > 0]


def pick_device(devices: list[SoundDevice], spec: str | int | None, *, named_by: str,
                direction: Direction) -> SoundDevice:
    """The device ``spec`` names among ``devices`` (not empty): an index, the whole name or a part of it
    (case-insensitive; a whole name wins over parts); None or blank: the default.

    BadInputError listing the choices when ``spec`` matches none or several; the message names ``spec`` as
    ``named_by`` says where it came from ("--device", "--input", "settings file PATH: device").
    """
    if spec is None or str(spec).strip() == "":
        return next((d for d in devices if d.is_default), devices[0])
    text = str(spec).strip()
    if text.isdigit():
        matches = [d for d in devices if d.index == int(text)]
    else:
        exact = [d for d in devices if d.name.lower() == text.lower()]
        matches = exact or [d for d in devices if text.lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    choices = "; ".join(d.describe() for d in (matches or devices))
    why = f"matches several {direction} devices" if matches else f"is not an {direction} device"
    raise BadInputError(f"{named_by} {text!r} {why}; choose an index or part of a name from: {choices}",
                        hint="`companion devices` lists them")
