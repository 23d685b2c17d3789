"""Live playback of a session through a sounddevice (PortAudio) output stream.

Three threads, one direction:

    render thread:   session.render_ahead(4 blocks) ──► ring of music + voice stems (~0.5 s ahead)
    audio callback:  ring block ──► session.stage.process (balance, pause/quit/volume, limiter) ──► outdata
    main thread:     keys ──► session.post(...);  status at the heard frame ──► status line / step log

Why this split: the ring absorbs a slow moment of the render thread (a track change, the busy other
core), but whatever sits in it has already been rendered. Controls that only change gain (balance too:
the voice is a stem of its own) are applied by the output stage on the block being sent, so they are
heard after one block and the device buffer whatever the ring holds. Controls that change the content
(next, repeat) re-plan in the render thread, which then flushes the ring: the callback crossfades the
block it was about to send into the first block of the new plan (equal power, one block, 21 ms).

The callback contract: it fills the whole ``outdata``, never allocates beyond one block's numpy
temporaries, never blocks, locks, prints or does I/O, and never waits for the render thread: an empty
ring gives silence (an underflow unless a pause or quit has already faded out). The ring is
single-producer/single-consumer: the render thread owns ``_written`` and ``_flush_to``, the callback
``_read`` and ``_sent_end`` (plain int stores are atomic under the GIL). The garbage collector is held
off (companion.output.gc_hold). After the session's last sample the render thread appends silence longer
than the device latency: PortAudio drops the last latency's worth of a stream stopped right away.

Device errors while playing: the stream is closed, playback pauses (the ring keeps its place), the user
is told, the default device is retried every second, and playback resumes where it stopped, faded in.
Repeated dropouts grow the device buffer once, the same way (companion.output.stream_lifecycle).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from typing import Callable, Protocol

import numpy as np

from companion import CHANNELS
from companion.controls import Command
from companion.errors import DeviceError
from companion.mix.output_stage import OutputStage
from companion.output.buffer_growth import UnderflowWatch
from companion.output.device import BUFFER_ENV, OutputDevice, device_buffer_s, sounddevice_module
from companion.output.gc_hold import hold_gc, release_gc
from companion.output.playback_result import PlaybackResult, write_stats
from companion.output.stream_lifecycle import StreamLifecycle

log = logging.getLogger("companion")

BLOCK_FRAMES = 1024
RENDER_BLOCKS = 4         # blocks the render thread renders per wake-up: a quarter of the wake-ups
AHEAD_S = 0.5             # how far the render thread renders ahead of the callback, plus one spare
                          # chunk (0.6 s in all: it must stay under the 0.7 s pause fade, because the
                          # session stops its clock where that fade is silent)
PAUSED_POLL_S = 0.005     # while paused, how often the render thread looks for a resume


class SessionLike(Protocol):
    """What the player needs of companion.mix.session.Session (or the ambient cue feed's tap and source)."""

    rate_hz: int
    finished: bool
    stage: OutputStage | None

    def render_ahead(self, out: np.ndarray, voice: np.ndarray | None = None) -> int | None: ...
    def post(self, command: Command | str, value: float | None = None) -> None: ...
    def status(self, heard_frame: int | None = None): ...


class Player(StreamLifecycle):
    """Plays one session on one device; ``run()`` blocks until the session ends or is stopped.

    ``on_tick(player)`` is called by the main thread a few times a second (keys, status line); it may call
    ``post()``. ``interrupt()`` (signal handlers) asks for a ~1 s fade and marks the run interrupted.
    """

    def __init__(self, session: SessionLike, device: OutputDevice, *, block_frames: int = BLOCK_FRAMES,
                 ahead_s: float = AHEAD_S, latency_s: float | None = None,
                 say: Callable[[str], None] = lambda text: log.warning(text)) -> None:
        self.session = session
        self.stage: OutputStage | None = getattr(session, "stage", None)
        self.device = device
        self.rate_hz = int(session.rate_hz)
        self.block_frames = block_frames
        self.latency_s = device_buffer_s() if latency_s is None else latency_s
        self._watch = UnderflowWatch(enabled=latency_s is None and not os.environ.get(BUFFER_ENV, "").strip())
        self._say = say
        chunks = max(2, int(np.ceil(ahead_s * self.rate_hz / block_frames / RENDER_BLOCKS)) + 1)
        n_blocks = chunks * RENDER_BLOCKS       # a chunk never wraps around the ring's end
        self._ring = np.zeros((n_blocks, block_frames, CHANNELS), dtype=np.float32)
        self._voice_ring = np.zeros_like(self._ring)   # the voice stem, balanced against the music at the stage
        self._ring_frame = np.full(n_blocks, -1, dtype=np.int64)   # content frame of each block's start
        self._n = n_blocks
        self._written = 0           # render thread's count of blocks put in the ring
        self._read = 0              # callback's count of blocks taken
        self._flush_to = -1         # render thread: the first block of a new plan (older ones are dropped)
        self._flushes = 0
        self._scratch = np.zeros((block_frames, CHANNELS), dtype=np.float32)
        self._voice_scratch = np.zeros_like(self._scratch)
        self._producer_done = False
        self._producer_error: BaseException | None = None
        self._stop_producer = False
        self._wake = threading.Event()
        phase = (np.arange(block_frames, dtype=np.float64) + 0.5) / block_frames
        self._ramp = (0.5 - 0.5 * np.cos(np.pi * phase)).astype(np.float32)[:, None]
        self._ramp_out = np.ascontiguousarray(self._ramp[::-1])
        self._power_in = np.sin(0.5 * np.pi * phase).astype(np.float32)[:, None]     # equal-power crossfade
        self._power_out = np.cos(0.5 * np.pi * phase).astype(np.float32)[:, None]
        self._ramp_next = False     # fade the next callback block in (after a device restart)
        self._hold_next = self._held = False   # fade the next block out, then silence (a stream reopened)
        self._abort = False         # second Ctrl-C: fade this block out, then silence
        self._abort_faded = False
        self._device_underflows = 0
        self._ring_underruns = 0
        self._last_underrun_block = -1
        self._blocks = 0
        self._callback_max_s = 0.0
        self._callback_tid: int | None = None
        self._producer_tid: int | None = None
        self._sent_end = -1         # callback: content (mix) frame just after the last block sent
        self._render_total_s = 0.0
        self._render_max_s = 0.0
        self._rendered = 0
        self._interrupts = 0
        self._quit_deadline: float | None = None
        self._stream = None
        self._stream_failed = threading.Event()
        self.result = PlaybackResult()
        self.tail_blocks = self._blocks_for(self.latency_s + 0.1) + 1   # silence after the end (PortAudio drops ~latency)

    def _blocks_for(self, seconds: float) -> int:
        return int(np.ceil(seconds * self.rate_hz / self.block_frames))

    # ---- audio thread -------------------------------------------------------------------------------
    def _callback(self, outdata, frames, time_info, status) -> None:
        """Send one prepared block through the output stage; silence when none is ready. Never fails."""
        started = time.perf_counter()
        if self._callback_tid is None:
            self._callback_tid = threading.get_native_id()     # once: names the thread in the stats
        if status.output_underflow:
            self._device_underflows += 1
        stage = self.stage
        read, written = self._read, self._written
        if read < written and not self._abort_faded and not self._held:
            slot = read % self._n
            block, voice = self._ring[slot], self._voice_ring[slot]
            frame = int(self._ring_frame[slot])
            flush = self._flush_to
            if read < flush < written:
                # A re-plan: the block due now fades out as the new plan's first block fades in.
                np.multiply(block, self._power_out, out=self._scratch)
                np.multiply(voice, self._power_out, out=self._voice_scratch)
                block, voice = self._ring[flush % self._n], self._voice_ring[flush % self._n]
                block *= self._power_in
                block += self._scratch
                voice *= self._power_in
                voice += self._voice_scratch
                frame = int(self._ring_frame[flush % self._n])
                read = flush
                self._flushes += 1
            if stage is not None:
                stage.process(block, outdata, frame if frame >= 0 else None, voice=voice)
            else:
                np.add(block, voice, out=outdata)
            if frame >= 0:
                self._sent_end = frame + frames
            if self._abort or self._hold_next:     # the end, or a stream about to be reopened: fade out
                outdata *= self._ramp_out
                self._abort_faded = self._abort
                self._held, self._hold_next = not self._abort, False
            elif self._ramp_next:
                outdata *= self._ramp
                self._ramp_next = False
            self._read = read + 1
        else:
            if stage is not None:
                stage.poll()
            outdata.fill(0.0)
            if self._abort:
                self._abort_faded = True
            elif not self._producer_done and not self._held and (stage is None or stage.audible):
                self._ring_underruns += 1
                self._last_underrun_block = self._blocks
        self._blocks += 1
        took = time.perf_counter() - started
        if took > self._callback_max_s:
            self._callback_max_s = took

    def _stream_finished(self) -> None:
        if not self._drained() and not self._stop_producer:
            self._stream_failed.set()

    # ---- render thread ------------------------------------------------------------------------------
    def _produce(self) -> None:
        chunk = RENDER_BLOCKS
        chunk_frames = chunk * self.block_frames
        full_wait_s = chunk_frames / self.rate_hz            # ring full: a chunk will have been taken
        offsets = np.arange(chunk, dtype=np.int64) * self.block_frames
        session = self.session
        self._producer_tid = threading.get_native_id()
        calm = 0
        try:
            ended = False
            tail = 0
            while not self._stop_producer:
                # One spare chunk for a control: a re-plan is rendered (and flushed to) without waiting.
                self._wake.clear()
                pending = getattr(session, "has_commands", False)
                if self._written - self._read > self._n - (chunk if pending else 2 * chunk):
                    calm += 1
                    if calm % 32 == 0:       # ~every 3 s, while well ahead: a cheap young-gen pass
                        gc.collect(0)
                    self._wake.wait(full_wait_s)
                    continue
                slot = self._written % self._n
                view = self._ring[slot: slot + chunk].reshape(chunk_frames, CHANNELS)
                voice = self._voice_ring[slot: slot + chunk].reshape(chunk_frames, CHANNELS)
                if ended:
                    view.fill(0.0)
                    voice.fill(0.0)
                    self._ring_frame[slot: slot + chunk] = -1
                    tail -= chunk
                else:
                    replans = getattr(session, "replans", 0)
                    started = time.perf_counter()
                    frames = session.render_ahead(view, voice)
                    took = time.perf_counter() - started
                    if frames is None:               # paused: the clock stands still; look again soon
                        time.sleep(PAUSED_POLL_S)
                        continue
                    self._rendered += chunk
                    self._render_total_s += took
                    self._render_max_s = max(self._render_max_s, took)
                    first = getattr(session, "block_frame", -1)
                    self._ring_frame[slot: slot + chunk] = first + offsets if first >= 0 else -1
                    if getattr(session, "replans", 0) != replans:
                        self._flush_to = self._written
                    ended = frames < chunk_frames or bool(session.finished)
                    tail = self.tail_blocks
                self._written += chunk
                if ended and tail <= 0:
                    break
        except BaseException as err:  # noqa: BLE001 - handed to the main thread, re-raised there
            self._producer_error = err
        finally:
            self._producer_done = True

    def _drained(self) -> bool:
        return self._abort_faded or (self._producer_done and self._read >= self._written)

    # ---- main thread --------------------------------------------------------------------------------
    def heard_frame(self) -> int | None:
        """The session's output frame being heard now: the end of the last block sent to the device, less
        the limiter's look-ahead (output frame n is mix frame n + latency) and the device buffer. Within a
        block period (21 ms) of the truth; None before the first block."""
        sent = self._sent_end
        if sent < 0:
            return None
        lookahead = self.stage.latency if self.stage is not None else 0
        return sent - lookahead - int(round(self.latency_s * self.rate_hz))

    def heard_status(self):
        """The session's status at the heard position (the clock the status line shows)."""
        return self.session.status(self.heard_frame())

    def post(self, command: Command | str, value: float | None = None) -> None:
        if command == Command.QUIT:
            self._expect_end_by(value if value is not None else 3.0)
            if self.result.stopped_at is None:
                self.result.stopped_at = self.heard_status()
        self.session.post(command, value)
        self._wake.set()

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

    def run(self, on_tick: Callable[[Player], None] | None = None, tick_s: float = 0.05) -> PlaybackResult:
        """Play until the session's end (or a stop) has been heard; returns what happened."""
        sounddevice_module()
        producer = threading.Thread(target=self._produce, name="companion-render", daemon=True)
        producer.start()
        prefill = self._n // 2           # the device takes its first blocks in a burst
        while self._written < prefill and not self._producer_done:
            time.sleep(0.002)
        hold_gc()
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
                if self._watch.should_grow(self._device_underflows, time.monotonic()):
                    self._grow_buffer()
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
            self._wake.set()
            self._close_stream()
            producer.join(timeout=2.0)
            release_gc()
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
        r.flushes = self._flushes
        r.render_mean_us = self._render_total_s / max(1, self._rendered) * 1e6
        r.render_max_us = self._render_max_s * 1e6
        r.callback_max_us = self._callback_max_s * 1e6
        if self.stage is not None and self.stage.non_finite_blocks:     # counted in the callback, said here
            log.warning("the mix held invalid samples (NaN or infinity) in %d block(s); they were played as "
                        "silence", self.stage.non_finite_blocks)
        return r

    def write_stats(self, path: str) -> None:
        """The run's figures as JSON (underflows, render times, stream start, thread roles), for tests and
        benchmarks."""
        names = {str(t.native_id): t.name for t in threading.enumerate() if t.native_id is not None}
        if self._callback_tid is not None:
            names[str(self._callback_tid)] = "audio-callback"
        if self._producer_tid is not None:
            names[str(self._producer_tid)] = "render"
        write_stats(path, self.result, device=self.device.name, rate_hz=self.rate_hz,
                    block_frames=self.block_frames, latency_s=self.latency_s, ring_blocks=self._n,
                    last_ring_underrun_s=self._last_underrun_block * self.block_frames / self.rate_hz
                    if self._last_underrun_block >= 0 else None, threads=names)
