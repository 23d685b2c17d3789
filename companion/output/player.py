"""Live playback of a Session through a sounddevice (PortAudio) output stream.

The only module that imports sounddevice, and only when playback or a device listing is asked for, so
``companion render`` works on a machine without PortAudio.

Three threads, one direction:

    producer thread:  session.render(block) ──► ring of preallocated blocks (a few hundred ms ahead)
    audio callback:   ring block ──► outdata   (copy, or zeros + count an underflow; nothing else)
    main thread:      keys ──► session.post(...);  session.status() ──► status line / step log

The callback contract: it fills the whole ``outdata``, never allocates, blocks, locks, prints or does I/O.
The ring is single-producer/single-consumer: the producer owns ``_written``, the callback owns ``_read``
(plain int stores are atomic under the GIL), so no lock is ever held across rendering. The garbage
collector is frozen and disabled while the stream runs; the producer collects the young generation when
it is well ahead. After the session's last sample the producer appends silence longer than the device
latency, because PortAudio drops the last latency's worth of audio of a stream stopped right away.

Device errors while playing: the stream is closed, playback pauses (the ring keeps its place), the user
is told, the default device is retried every second, and playback resumes exactly where it stopped with
a short fade-in. No PortAudio library or no output device at all raises ``DeviceError`` with one line
naming the package to install and saying that ``companion render -o FILE`` works without a device.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable, Protocol

import numpy as np

from companion import CHANNELS, ENGINE_RATE_HZ
from companion.controls import Command
from companion.terminal.console import STDERR_LOCK
from companion.errors import BadInputError, DeviceError

log = logging.getLogger("companion")

NO_DEVICE_MESSAGE = (
    "no sound output device found (connect or enable one; PortAudio comes from the libportaudio2 package, "
    "which scripts/install-system.sh installs); `companion render -o FILE` works without a device"
)
NO_PORTAUDIO_MESSAGE = (
    "the PortAudio library is not installed, so companion cannot play sound (install the libportaudio2 "
    "package, or run scripts/install-system.sh); `companion render -o FILE` works without a device"
)
STATS_ENV = "COMPANION_PLAYER_STATS"   # a path: when set, play() writes its figures there as JSON

BLOCK_FRAMES = 1024
AHEAD_S = 0.5             # how far the producer renders ahead of the callback
LATENCY_S = 0.3           # device buffer asked of PortAudio: absorbs a late callback (GIL, busy CPU);
                          # 0.15 s gave 3 underflows in 2 min with the other core busy, 0.3 s none
RETRY_EVERY_S = 1.0       # device lost: how often the default device is tried again
RETRY_FOR_S = 120.0       # ... and for how long before giving up


class SessionLike(Protocol):
    """What the player needs of companion.mix.session.Session (or the ambient cue feed's tap and source)."""

    rate_hz: int
    finished: bool

    def render(self, out: np.ndarray) -> int: ...
    def post(self, command: str, value: float | None = None) -> None: ...
    def status(self): ...


def _sounddevice() -> ModuleType:
    """Import sounddevice on first use; a missing PortAudio library becomes a DeviceError."""
    try:
        import sounddevice
    except OSError as err:          # "PortAudio library not found"
        raise DeviceError(NO_PORTAUDIO_MESSAGE) from err
    return sounddevice


def warm_up() -> None:
    """Import sounddevice (PortAudio's device scan, ~0.3 s) on a background thread while the caller loads
    the routine and builds the session; the first real use waits for it through the import lock."""

    def load() -> None:
        try:
            with STDERR_LOCK:  # sounddevice points fd 2 at /dev/null while it scans: see companion.terminal.console
                _sounddevice()
        except Exception:  # noqa: BLE001 - reported by the first real use, on the main thread
            pass

    thread = threading.Thread(target=load, name="companion-portaudio", daemon=True)
    thread.start()
    # An early exit (a bad routine, Ctrl-C) must not tear the interpreter down in the middle of PortAudio's
    # device scan: that crashes inside PortAudio (exit 139 instead of a clean error). Wait for it at exit.
    atexit.register(thread.join, 10.0)


@dataclass(frozen=True)
class OutputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate_hz: int
    is_default: bool

    def describe(self) -> str:
        return f"{self.index}: {self.name} ({self.hostapi})"


def list_output_devices() -> list[OutputDevice]:
    """Every device PortAudio can play to, in PortAudio's order. May be empty."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_out = sd.default.device[1]
    except sd.PortAudioError as err:
        raise DeviceError(NO_DEVICE_MESSAGE) from err
    if default_out is None or default_out < 0:
        default_out = next((int(h["default_output_device"]) for h in hostapis
                            if h["default_output_device"] >= 0), -1)
    return [
        OutputDevice(index=int(d["index"]), name=str(d["name"]), hostapi=str(hostapis[d["hostapi"]]["name"]),
                     channels=int(d["max_output_channels"]), default_rate_hz=int(d["default_samplerate"]),
                     is_default=int(d["index"]) == default_out)
        for d in devices if d["max_output_channels"] > 0
    ]


def resolve_device(spec: str | int | None = None) -> OutputDevice:
    """The output device named by ``spec``: an index, or part of a name (case-insensitive); None: default.

    Raises DeviceError when there is no output device at all, BadInputError (listing the choices) when
    ``spec`` matches none or several.
    """
    devices = list_output_devices()
    if not devices:
        raise DeviceError(NO_DEVICE_MESSAGE)
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
    why = "matches several output devices" if matches else "is not an output device"
    raise BadInputError(f"--device {text!r} {why}; choose an index or part of a name from: {choices}",
                        hint="`companion devices` lists them")


def preferred_rate_hz(device: OutputDevice) -> int:
    """The rate to build the session at so that nobody resamples.

    Most host APIs report the rate the device (or the OS mixer) really runs at. ALSA's reported default is
    only PortAudio's first guess (44,100 Hz for the `pulse`/`default` plugins, whatever the server runs
    at), so there the engine rate is preferred when the device accepts it.
    """
    if device.hostapi == "ALSA" and device.default_rate_hz != ENGINE_RATE_HZ:
        sd = _sounddevice()
        try:
            sd.check_output_settings(device=device.index, channels=CHANNELS, dtype="float32",
                                     samplerate=ENGINE_RATE_HZ)
            return ENGINE_RATE_HZ
        except Exception:  # noqa: BLE001 - any refusal means "not supported": use the device's own rate
            pass
    return device.default_rate_hz


@dataclass
class PlaybackResult:
    """What happened, for the CLI's last line and the stats file."""

    interrupted: bool = False        # Ctrl-C / SIGTERM
    status: object | None = None     # the session's last Status
    stopped_at: object | None = None  # its Status when a quit (q, Ctrl-C) was asked: where the person stopped
    underflows: int = 0              # callback found the ring empty, or PortAudio flagged an underflow
    device_underflows: int = 0       # PortAudio's output_underflow flags alone
    ring_underruns: int = 0          # the ring was empty while the session was still playing
    blocks: int = 0                  # callbacks served
    render_max_us: float = 0.0
    render_mean_us: float = 0.0
    device_errors: list[str] = field(default_factory=list)
    stream_started_unix: float = 0.0


class Player:
    """Plays one session on one device; ``run()`` blocks until the session ends or is stopped.

    ``on_tick(player)`` is called by the main thread a few times a second (keys, status line); it may call
    ``post()``. ``interrupt()`` (signal handlers) asks for a ~1 s fade and marks the run interrupted.
    """

    def __init__(self, session: SessionLike, device: OutputDevice, *, block_frames: int = BLOCK_FRAMES,
                 ahead_s: float = AHEAD_S, latency_s: float = LATENCY_S,
                 say: Callable[[str], None] = lambda text: log.warning(text)) -> None:
        self.session = session
        self.device = device
        self.rate_hz = int(session.rate_hz)
        self.block_frames = block_frames
        self.latency_s = latency_s
        self._say = say
        n_blocks = max(4, int(np.ceil(ahead_s * self.rate_hz / block_frames)))
        self._ring = np.zeros((n_blocks, block_frames, CHANNELS), dtype=np.float32)
        self._n = n_blocks
        self._written = 0           # producer's count of blocks put in the ring
        self._read = 0              # callback's count of blocks taken
        self._producer_done = False
        self._producer_error: BaseException | None = None
        self._stop_producer = False
        self._ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, block_frames, dtype=np.float32)))[:, None]
        self._ramp_out = np.ascontiguousarray(self._ramp[::-1])
        self._ramp_next = False     # fade the next callback block in (after a device restart)
        self._abort = False         # second Ctrl-C: fade this block out, then silence
        self._abort_faded = False
        self._device_underflows = 0
        self._ring_underruns = 0
        self._last_underrun_block = -1
        self._blocks = 0
        self._render_total_s = 0.0
        self._render_max_s = 0.0
        self._interrupts = 0
        self._quit_deadline: float | None = None
        self._stream = None
        self._stream_failed = threading.Event()
        self.result = PlaybackResult()
        self.tail_blocks = self._blocks_for(latency_s + 0.1) + 1   # silence after the end (PortAudio drops ~latency)

    def _blocks_for(self, seconds: float) -> int:
        return int(np.ceil(seconds * self.rate_hz / self.block_frames))

    # ---- audio thread -------------------------------------------------------------------------------
    def _callback(self, outdata, frames, time_info, status) -> None:
        """Copy one prepared block; zeros and an underflow count when none is ready. Never fails."""
        if status.output_underflow:
            self._device_underflows += 1
        read = self._read
        if self._abort:
            if self._abort_faded or read >= self._written:
                outdata.fill(0.0)
            else:
                outdata[:] = self._ring[read % self._n]
                outdata *= self._ramp_out
            self._abort_faded = True
        elif read < self._written:
            outdata[:] = self._ring[read % self._n]
            if self._ramp_next:
                outdata *= self._ramp
                self._ramp_next = False
            self._read = read + 1
        else:
            outdata.fill(0.0)
            if not self._producer_done:
                self._ring_underruns += 1
                self._last_underrun_block = self._blocks
        self._blocks += 1

    def _stream_finished(self) -> None:
        if not self._drained() and not self._stop_producer:
            self._stream_failed.set()

    # ---- producer thread ----------------------------------------------------------------------------
    def _produce(self) -> None:
        wait_s = 2 * self.block_frames / self.rate_hz     # ring full: two blocks will have been taken
        calm_blocks = 0
        try:
            ended = False
            tail = 0
            while not self._stop_producer:
                if self._written - self._read >= self._n:
                    calm_blocks += 1
                    if calm_blocks % 128 == 0:       # ~every 5 s, while well ahead: a cheap young-gen pass
                        gc.collect(0)
                    time.sleep(wait_s)
                    continue
                block = self._ring[self._written % self._n]
                if ended:
                    block.fill(0.0)
                    tail -= 1
                else:
                    started = time.perf_counter()
                    frames = self.session.render(block)
                    took = time.perf_counter() - started
                    self._render_total_s += took
                    self._render_max_s = max(self._render_max_s, took)
                    ended = frames < self.block_frames or bool(self.session.finished)
                    tail = self.tail_blocks
                self._written += 1
                if ended and tail <= 0:
                    break
        except BaseException as err:  # noqa: BLE001 - handed to the main thread, re-raised there
            self._producer_error = err
        finally:
            self._producer_done = True

    def _drained(self) -> bool:
        return self._abort_faded or (self._producer_done and self._read >= self._written)

    # ---- main thread --------------------------------------------------------------------------------
    def post(self, command: Command | str, value: float | None = None) -> None:
        if command == Command.QUIT:
            self._expect_end_by(value if value is not None else 3.0)
            if self.result.stopped_at is None:
                self.result.stopped_at = self.session.status()
        self.session.post(command, value)

    def interrupt(self) -> None:
        """First call: fade out over ~1 s and finish; a second call stops at once."""
        self._interrupts += 1
        self.result.interrupted = True
        if self._interrupts == 1:
            self.post(Command.QUIT, 1.0)
        else:
            self._stop_now()

    def _expect_end_by(self, fade_s: float) -> None:
        """A quit must be heard within its fade plus the ring and device buffers; past that, stop."""
        deadline = time.monotonic() + fade_s + self._n * self.block_frames / self.rate_hz + self.latency_s + 1.0
        self._quit_deadline = min(self._quit_deadline or deadline, deadline)

    def _stop_now(self) -> None:
        """Fade the block being played out over one block, then silence; the run ends."""
        self._stop_producer = True
        self._abort = True

    def _open_stream(self, device_index: int | None) -> None:
        sd = _sounddevice()
        self._stream_failed.clear()
        stream = sd.OutputStream(samplerate=self.rate_hz, blocksize=self.block_frames, device=device_index,
                                 channels=CHANNELS, dtype="float32", latency=self.latency_s,
                                 callback=self._callback, finished_callback=self._stream_finished)
        stream.start()
        self._stream = stream
        self.latency_s = float(stream.latency)      # what the device gave, not what was asked
        self.tail_blocks = self._blocks_for(self.latency_s + 0.1) + 1

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort() if self._stream_failed.is_set() else stream.stop()
                stream.close()
            except Exception as err:  # noqa: BLE001 - closing a broken stream may fail too; nothing to do
                log.debug("closing the stream failed: %s", err)

    def _recover(self, why: str) -> None:
        """The device failed: pause (the ring keeps its place), retry the default device, resume."""
        self.result.device_errors.append(why)
        self._say(f"The sound device stopped ({why}). Paused; retrying the default sound device ...")
        self._close_stream()
        sd = _sounddevice()
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                sd._terminate()          # re-enumerate: the device list is read once per initialisation
                sd._initialize()
                self._ramp_next = True
                self._open_stream(None)
                self._say("Resumed on the default sound device.")
                return
            except Exception as err:  # noqa: BLE001 - any PortAudio failure: wait and try again
                if self._interrupts:          # Ctrl-C while waiting: nothing is playing, just end
                    self._stop_now()
                    self._abort_faded = True
                    return
                if time.monotonic() > deadline:
                    raise DeviceError(f"the sound device stopped and none came back ({err})") from err
                time.sleep(RETRY_EVERY_S)

    def run(self, on_tick: Callable[[Player], None] | None = None, tick_s: float = 0.05) -> PlaybackResult:
        """Play until the session's end (or a stop) has been heard; returns what happened."""
        _sounddevice()
        producer = threading.Thread(target=self._produce, name="companion-render", daemon=True)
        producer.start()
        prefill = self._n // 2           # the device takes its first blocks in a burst
        while self._written < prefill and not self._producer_done:
            time.sleep(0.002)
        _hold_gc()
        try:
            try:
                self._open_stream(self.device.index)
            except Exception as err:  # noqa: BLE001 - PortAudio refuses: one clear line
                raise DeviceError(f"cannot open {self.device.describe()} at {self.rate_hz} Hz: {err}") from err
            self.result.stream_started_unix = time.time()
            while not self._drained():
                if self._producer_error is not None:
                    break
                if self._stream_failed.is_set() or (self._stream is not None and not self._stream.active
                                                    and not self._drained()):
                    self._recover("the stream ended unexpectedly")
                if self._quit_deadline is not None and time.monotonic() > self._quit_deadline:
                    log.debug("the session did not end after quit; stopping")
                    self._stop_now()
                if on_tick is not None:
                    on_tick(self)
                else:
                    time.sleep(tick_s)
            # the ring is played; let the device's own buffer play out before stopping
            time.sleep(min(self.latency_s, 0.5))
        finally:
            self._stop_producer = True
            self._close_stream()
            producer.join(timeout=2.0)
            _release_gc()
        if self._producer_error is not None:
            raise self._producer_error
        return self._finish()

    def _finish(self) -> PlaybackResult:
        r = self.result
        r.status = self.session.status()
        r.device_underflows = self._device_underflows
        r.ring_underruns = self._ring_underruns
        r.underflows = self._device_underflows + self._ring_underruns
        r.blocks = self._blocks
        rendered = max(1, self._written)
        r.render_mean_us = self._render_total_s / rendered * 1e6
        r.render_max_us = self._render_max_s * 1e6
        return r

    def write_stats(self, path: str) -> None:
        """The run's figures as JSON (underflows, render times, stream start), for tests and benchmarks."""
        figures = {k: v for k, v in vars(self.result).items() if k not in ("status", "stopped_at")}
        figures.update(device=self.device.name, rate_hz=self.rate_hz, block_frames=self.block_frames,
                       latency_s=self.latency_s, last_ring_underrun_s=self._last_underrun_block
                       * self.block_frames / self.rate_hz if self._last_underrun_block >= 0 else None)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=1)


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = True


def _hold_gc() -> None:
    """Keep the collector out of the audio path while any player runs (a full collection can hold the GIL
    longer than a block period): collect once, freeze what is alive, disable. Counted, for two players."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.collect()
            gc.freeze()
            gc.disable()
        _gc_holders += 1


def _release_gc() -> None:
    global _gc_holders
    with _gc_lock:
        _gc_holders -= 1
        if _gc_holders == 0:
            gc.unfreeze()
            if _gc_was_enabled:
                gc.enable()


class signals_interrupt:
    """Context manager: SIGINT/SIGTERM call ``player.interrupt()`` instead of killing the process."""

    def __init__(self, player: Player) -> None:
        self.player = player
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.player.interrupt()

    def __enter__(self) -> signals_interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def play_session(session: SessionLike, device: OutputDevice, *, keys: bool = True, out=None) -> PlaybackResult:
    """Play ``session`` with one-key controls and a status line on a terminal (or step log lines).

    Keys are read only when ``keys`` is true and stdin is a terminal; the status line is drawn only when
    ``out`` is a terminal too. SIGINT/SIGTERM fade out over ~1 s (a second one stops at once). The
    terminal is restored on every way out.
    """
    import sys

    from companion.terminal.keys import HELP, SHOW_HELP, KeyReader, action_for
    from companion.terminal.statusline import StatusView

    out = out if out is not None else sys.stdout
    reader = KeyReader() if keys else KeyReader(stream=_NoTTY())
    live = reader.enabled and out.isatty()
    view = StatusView(out, live=live)
    player = Player(session, device, say=view.message)
    if reader.enabled:
        view.message("Playing. " + HELP)

    tick_s = 0.08 if reader.enabled else 0.25     # keys feel instant at ~12 Hz; a log line needs less

    def tick(p: Player) -> None:
        for key in reader.read(tick_s):
            action = action_for(key)
            if action is None:
                continue
            command, value = action
            if command == SHOW_HELP:
                view.message(HELP)
            else:
                p.post(command, value)
        view.update(p.session.status())

    try:
        with reader, signals_interrupt(player):
            result = player.run(on_tick=tick)
    finally:
        view.close()
        if os.environ.get(STATS_ENV):
            player.write_stats(os.environ[STATS_ENV])
    return result


class _NoTTY:
    """A stand-in stdin for --no-keys: never a terminal."""

    def fileno(self) -> int:
        raise ValueError("no keys")
