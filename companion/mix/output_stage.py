"""The output stage: the gains a listener must hear at once (pause, quit, volume, balance) and the master
limiter.

Why a stage of its own: live playback renders content ahead into a ring (so a slow moment of the render
thread is never heard), and a control applied where content is rendered is heard only after that ring and
the device buffer have played out (about a second, measured). Applied here instead, on the block that is
leaving for the device (the audio callback's side), a key changes the sound within one block and the
device buffer. ``Session.render`` (files, tests) calls the same stage right after its content, so a render
with no controls is exactly what it was: ``limiter(mix x volume)``.

Contract:
- ``post(command, value)`` from any thread: ``Command.PAUSE``, ``RESUME``, ``VOLUME`` (a step in dB),
  ``BALANCE`` (a step in dB, + = voice louder: the voice up and the music down by half each),
  ``QUIT`` (a fade length in seconds); any other command is ignored here (the session's). Commands are
  drained at the start of the next ``poll``/``process``; every change is a raised-cosine ramp
  (pause/resume 0.7 s, volume and balance 150 ms, quit its fade).
- ``process(block, out, frame, voice=None)`` balances the music ``block`` against the ``voice`` stem and
  sums them into ``block`` (both scaled in place), scales ``block`` in place and writes the limited result into ``out``
  (delayed by ``latency`` frames); a block holding NaN or infinity goes out as silence
  (``companion.dsp.guard``), counted in ``non_finite_blocks`` for the caller to report. ``frame`` is the content (mix) frame of ``block``'s first sample:
  after a ring flush the content jumps, and the stage must know where the fades it announces end.
  No allocation beyond numpy temporaries of one block, no locks, no I/O: it runs in the audio callback.
- What the content side needs to follow is published as single attribute stores (atomic under the GIL):
  ``hold`` = (pauses, resumes, fade_start, silent_at) in content frames, and ``quit_at`` (the content
  frame where the quit fade reaches silence). The session stops its clock at ``silent_at`` and ends at
  ``quit_at``; the stage never waits for it.
"""

from __future__ import annotations

import queue

import numpy as np

from companion import dsp
from companion.controls import Command
from companion.dsp.guard import silence_non_finite
from companion.dsp.limiter import Limiter
from companion.durations import seconds_to_frames

PAUSE_FADE_S = 0.7
GAIN_RAMP_S = 0.15
VOLUME_RANGE_DB = (-40.0, 12.0)
BALANCE_RANGE_DB = (-12.0, 12.0)
QUIT_FADE_S = 3.0


class GainRamp:
    """A gain that moves to a new value along a raised cosine over a number of frames."""

    def __init__(self, value: float) -> None:
        self.value = self._from = self._to = value
        self._pos = self._len = 0

    def set(self, target: float, frames: int) -> None:
        self._from, self._to = self.value, target
        self._pos, self._len = 0, max(1, frames)

    @property
    def moving(self) -> bool:
        return self._pos < self._len

    def frames_left(self) -> int:
        return self._len - self._pos

    def take(self, frames: int) -> float | np.ndarray:
        """The gain for the next ``frames`` frames: a scalar when still, else one value per frame."""
        if not self.moving:
            return self.value
        idx = np.arange(self._pos, self._pos + frames) + 1
        shape = dsp.raised_cosine(idx / self._len)
        values = self._from + (self._to - self._from) * shape
        self._pos = min(self._pos + frames, self._len)
        self.value = float(values[-1])
        return values


class OutputStage:
    """Pause, quit and volume ramps and (optionally) the master limiter, on the block being sent."""

    def __init__(self, rate_hz: int, *, volume_db: float = 0.0, limit: bool = True) -> None:
        self.rate_hz = rate_hz
        self._commands: queue.SimpleQueue[tuple[Command, float | None]] = queue.SimpleQueue()
        self.volume_db = float(volume_db)
        self._volume = GainRamp(float(dsp.db_to_gain(volume_db)))
        self._pause = GainRamp(1.0)
        self._quit = GainRamp(1.0)
        self.balance_db = 0.0
        self._voice = GainRamp(1.0)   # balance: the voice stem's gain ...
        self._music = GainRamp(1.0)   # ... and the music's
        self.holding = False          # paused or pausing
        self.quitting = False
        self.frame = 0                # content frame of the next block
        self._pauses = self._resumes = 0
        self.hold: tuple[int, int, int, int] = (0, 0, 0, 0)   # (pauses, resumes, fade_start, silent_at)
        self.quit_at: int | None = None
        self.non_finite_blocks = 0    # blocks the last-line guard silenced (reported by the caller, later)
        self.limiter = Limiter(rate_hz) if limit else None

    @property
    def latency(self) -> int:
        """Frames the limiter delays the audio by (0 without a limiter)."""
        return self.limiter.latency if self.limiter is not None else 0

    @property
    def audible(self) -> bool:
        """False once a pause or quit fade has reached silence (an empty ring then is no dropout)."""
        return self._pause.value > 0.0 and self._quit.value > 0.0

    def post(self, command: Command, value: float | None = None) -> None:
        """Queue a control from any thread; it takes effect at the next block."""
        self._commands.put((command, value))

    def poll(self) -> None:
        """Apply the queued controls (the callback calls this even when it has no block to send)."""
        if self._commands.empty():         # the usual case: no exception raised and caught each block
            return
        while True:
            try:
                command, value = self._commands.get_nowait()
            except queue.Empty:
                return
            self._apply(command, value)

    def _apply(self, command: Command, value: float | None) -> None:
        frames = lambda seconds: seconds_to_frames(seconds, self.rate_hz)  # noqa: E731
        if command is Command.PAUSE and not self.holding and not self.quitting:
            self.holding = True
            self._pauses += 1
            fade = frames(PAUSE_FADE_S)
            self._pause.set(0.0, fade)
            self.hold = (self._pauses, self._resumes, self.frame, self.frame + fade)
        elif command is Command.RESUME and self.holding and not self.quitting:
            self.holding = False
            self._resumes += 1
            self._pause.set(1.0, frames(PAUSE_FADE_S))
            self.hold = (self._pauses, self._resumes, self.hold[2], self.hold[3])
        elif command is Command.VOLUME:
            self.volume_db = float(np.clip(self.volume_db + (value or 0.0), *VOLUME_RANGE_DB))
            self._volume.set(float(dsp.db_to_gain(self.volume_db)), frames(GAIN_RAMP_S))
        elif command is Command.BALANCE:
            self.balance_db = float(np.clip(self.balance_db + (value or 0.0), *BALANCE_RANGE_DB))
            self._voice.set(float(dsp.db_to_gain(self.balance_db / 2.0)), frames(GAIN_RAMP_S))
            self._music.set(float(dsp.db_to_gain(-self.balance_db / 2.0)), frames(GAIN_RAMP_S))
        elif command is Command.QUIT and not self.quitting:
            self.quitting = True
            if self._pause.value == 0.0:          # already silent: nothing to fade
                self.quit_at = self.frame
                self._quit.set(0.0, 1)
            else:
                fade = frames(value if value is not None else QUIT_FADE_S)
                self._quit.set(0.0, fade)
                self.quit_at = self.frame + fade

    def process(self, block: np.ndarray, out: np.ndarray, frame: int | None = None, *,
                voice: np.ndarray | None = None) -> None:
        """Balance ``block`` (the music, content frames from ``frame``) against ``voice`` and sum them into
        ``block``; scale it in place; limit it into ``out``."""
        if frame is not None:
            self.frame = frame
        self.poll()
        n = len(block)
        if voice is not None:
            dsp.scale_frames(block, self._music.take(n))      # (nothing to do at balance 0)
            dsp.scale_frames(voice, self._voice.take(n))
            block += voice
        gain = self._pause.take(n)
        gain = gain * self._quit.take(n)
        gain = gain * self._volume.take(n)
        # A NaN or inf from a broken file meets the gains and the limiter's (zero) gain here and comes out
        # NaN; the guard below turns that block into silence, so numpy's "invalid value" warnings say
        # nothing new. Only this stretch is quieted (~3 us a block).
        with np.errstate(invalid="ignore"):
            dsp.scale_frames(block, gain)
            if self.limiter is not None:
                self.limiter.process(block, out=out)
            else:
                out[:] = block
        # A quiet block came through the limiter as its input delayed, checked finite there: no second pass.
        if not (self.limiter is not None and self.limiter.quiet) and silence_non_finite(out):
            self.non_finite_blocks += 1
        self.frame += n
