"""The sound devices PortAudio offers, which one a session plays on, and how large a buffer to ask of it.

sounddevice is imported (through ``companion.sound_devices``, which lists and picks devices for recording
too) only when playback or a device listing is asked for, so ``companion render`` works on a machine
without PortAudio. No PortAudio
library or no output device at all raises ``DeviceError`` with one line naming the package to install and
saying that ``companion render -o FILE`` works without a device; a device name that matches none or
several raises ``BadInputError`` listing the choices.
"""

from __future__ import annotations

import atexit
import os
import threading
from types import ModuleType

from companion import CHANNELS, ENGINE_RATE_HZ
from companion.errors import BadInputError, DeviceError
from companion.sound_devices import SoundDevice, import_sounddevice, list_devices, pick_device
from companion.terminal.console import STDERR_LOCK

NO_DEVICE_MESSAGE = (
    "no sound output device found (connect or enable one; PortAudio comes from the libportaudio2 package, "
    "which scripts/install-system.sh installs); `companion render -o FILE` works without a device"
)
LATENCY_S = 0.05          # device buffer asked of PortAudio: PortAudio gives 42.7 ms (two 1024-frame blocks);
                          # keys are heard in ~75 ms (scripts/bench_player.py)
BUFFER_ENV = "COMPANION_DEVICE_BUFFER_MS"   # a larger buffer for a machine too busy to keep a small one fed
BUFFER_RANGE_MS = (20, 2000)
NO_PORTAUDIO_MESSAGE = (
    "the PortAudio library is not installed, so companion cannot play sound (install the libportaudio2 "
    "package, or run scripts/install-system.sh); `companion render -o FILE` works without a device"
)


def sounddevice_module() -> ModuleType:
    """Import sounddevice on first use; a missing PortAudio library becomes a DeviceError."""
    return import_sounddevice(NO_PORTAUDIO_MESSAGE)


def warm_up() -> None:
    """Import sounddevice (PortAudio's device scan, ~0.3 s) on a background thread while the caller loads
    the routine and builds the session; the first real use waits for it through the import lock."""

    def load() -> None:
        try:
            with STDERR_LOCK:  # sounddevice points fd 2 at /dev/null while it scans: see companion.terminal.console
                sounddevice_module()
        except Exception:  # noqa: BLE001 - reported by the first real use, on the main thread
            pass

    thread = threading.Thread(target=load, name="companion-portaudio", daemon=True)
    thread.start()
    # An early exit (a bad routine, Ctrl-C) must not tear the interpreter down in the middle of PortAudio's
    # device scan: that crashes inside PortAudio (exit 139 instead of a clean error). Wait for it at exit.
    atexit.register(thread.join, 10.0)


OutputDevice = SoundDevice       # a device that can play (``channels``: its output channels)


def list_output_devices() -> list[OutputDevice]:
    """Every device PortAudio can play to, in PortAudio's order. May be empty."""
    sd = sounddevice_module()
    try:
        return list_devices(sd, "output")
    except sd.PortAudioError as err:
        raise DeviceError(NO_DEVICE_MESSAGE) from err


def resolve_device(spec: str | int | None = None, named_by: str = "--device") -> OutputDevice:
    """The output device named by ``spec``: an index, or part of a name (case-insensitive); None: default.

    Raises DeviceError when there is no output device at all, BadInputError (listing the choices) when
    ``spec`` matches none or several; the message names ``spec`` as ``named_by`` says where it came from
    ("--cue-device", "settings file PATH: device").
    """
    devices = list_output_devices()
    if not devices:
        raise DeviceError(NO_DEVICE_MESSAGE)
    return pick_device(devices, spec, named_by=named_by, direction="output")


def preferred_rate_hz(device: OutputDevice) -> int:
    """The rate to build the session at so that nobody resamples.

    Most host APIs report the rate the device (or the OS mixer) really runs at. ALSA's reported default is
    only PortAudio's first guess (44,100 Hz for the `pulse`/`default` plugins, whatever the server runs
    at), so there the engine rate is preferred when the device accepts it.
    """
    if device.hostapi == "ALSA" and device.default_rate_hz != ENGINE_RATE_HZ:
        sd = sounddevice_module()
        try:
            sd.check_output_settings(device=device.index, channels=CHANNELS, dtype="float32",
                                     samplerate=ENGINE_RATE_HZ)
            return ENGINE_RATE_HZ
        except Exception:  # noqa: BLE001 - any refusal means "not supported": use the device's own rate
            pass
    return device.default_rate_hz


def device_buffer_s() -> float:
    """The device buffer to ask for: ``COMPANION_DEVICE_BUFFER_MS`` when set, else ``LATENCY_S``.

    Why a knob: on a machine so busy that the sound server itself is starved (measured: load average 14
    on 2 cores; a C callback and a real-time player thread dropped out just the same), only a larger
    buffer prevents dropouts, and keys are then heard that much later. Raises BadInputError for a value
    that is not a number of milliseconds in ``BUFFER_RANGE_MS``.
    """
    given = os.environ.get(BUFFER_ENV, "").strip()
    if not given:
        return LATENCY_S
    try:
        ms = float(given)
    except ValueError:
        ms = float("nan")
    low, high = BUFFER_RANGE_MS
    if not low <= ms <= high:          # (also false for nan and inf)
        raise BadInputError(f"{BUFFER_ENV}={given!r} is not a device buffer in milliseconds; allowed: {low} to {high}",
                            hint=f"for example {BUFFER_ENV}=300, or unset it for the default {LATENCY_S * 1000:.0f} ms")
    return ms / 1000.0
