"""A running session: the clock, live controls, the master gain and limiter, and status snapshots.

``Session.render(out)`` is the one call both the live player and the file writer make; with no controls
posted they receive exactly the same samples. Controls (``post``) are queued from any thread and applied at
the start of the next ``render`` call, always as ramps:

- pause / resume: a 0.7 s raised-cosine fade; while paused the clock stops (music and voice wait). On resume
  the narration line that was interrupted starts again from its beginning.
- next / repeat: re-plan from the next step, or from the current step's first line, 0.8 s from now; the line
  in progress fades out over 60 ms and the ducking blends over 0.5 s.
- extend: the current hold lasts 30 s longer (everything after it moves later).
- volume / balance: 1 dB steps, ramped over 150 ms.
- quit: a gentle fade (3 s by default) and the end.

The mixer runs ``limiter.latency`` frames ahead of the output so the look-ahead limiter needs no special
case: output frame n is mix frame n.
"""

from __future__ import annotations

import bisect
import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from companion import CHANNELS, dsp
from companion.controls import Command, as_command
from companion.dsp.guard import silence_non_finite
from companion.durations import seconds_to_frames
from companion.dsp.limiter import Limiter
from companion.mix.mixer import Mixer
from companion.plan.timeline import Timeline, extend_hold

PAUSE_FADE_S = 0.7
SKIP_DELAY_S = 0.8
GAIN_RAMP_S = 0.15
EXTEND_S = 30.0
VOLUME_RANGE_DB = (-40.0, 12.0)
BALANCE_RANGE_DB = (-12.0, 12.0)

Replanner = Callable[..., Timeline]
log = logging.getLogger("companion")


@dataclass(frozen=True)
class Status:
    routine: str
    step_index: int          # 0-based; -1 when the routine has no steps (ambient)
    step_count: int
    step_title: str
    doing: str
    speaking: bool
    countdown_s: float | None  # to the next spoken prompt; None when none is left
    elapsed_s: float
    total_s: float
    volume_db: float
    balance_db: float
    paused: bool
    finished: bool
    stopped_early: bool


class _Ramp:
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

    def take(self, frames: int) -> float | np.ndarray:
        if not self.moving:
            return self.value
        idx = np.arange(self._pos, self._pos + frames) + 1
        shape = dsp.raised_cosine(idx / self._len)
        values = self._from + (self._to - self._from) * shape
        self._pos = min(self._pos + frames, self._len)
        self.value = float(values[-1])
        return values


class Session:
    def __init__(
        self,
        *,
        name: str,
        mixer: Mixer,
        replan: Replanner | None,
        step_count: int,
        volume_db: float = 0.0,
    ) -> None:
        self.name = name
        self.mixer = mixer
        self.rate_hz = mixer.rate_hz
        self._replan = replan
        self._step_count = step_count
        self._commands: queue.SimpleQueue[tuple[Command, float | None]] = queue.SimpleQueue()
        self._limiter = Limiter(self.rate_hz)
        self._clock = 0                   # session frame the mixer renders next
        self._out = 0                     # output frames delivered
        self._volume_db = volume_db
        self._volume = _Ramp(float(dsp.db_to_gain(volume_db)))
        self._pause = _Ramp(1.0)
        self._pausing = False
        self._paused = False
        self._paused_at: int | None = None
        self._quit = _Ramp(1.0)
        self._quitting = False
        self._stopped_early = False
        self._end_override: int | None = None
        self.finished = False
        self.non_finite_blocks = 0        # blocks the last-line guard silenced
        self._seen: tuple = ()
        # The cue bus (ambient --cue-device) is delayed like the main output, so the two stay aligned.
        self._cue_delay = np.zeros((0, CHANNELS), np.float32)
        self._cues = np.zeros((0, CHANNELS), np.float32)
        # Prime the limiter so output frame n is mix frame n.
        self._limiter.process(self._mix(self._limiter.latency))
        self._queue_cues(1.0)

    # -- controls -------------------------------------------------------------------------------------
    def post(self, command: Command | str, value: float | None = None) -> None:
        """Queue a control from any thread; it takes effect at the next render().

        Raises ValueError here, on the caller's thread, for anything that is not a ``Command``.
        """
        self._commands.put((as_command(command), value))

    def _frames(self, seconds: float) -> int:
        return seconds_to_frames(seconds, self.rate_hz)

    def _apply(self, command: Command, value: float | None) -> None:
        """Act on one control; a command without a branch here raises (it is never silently ignored)."""
        frames = self._frames
        held = self._paused or self._pausing
        if command is Command.TOGGLE:
            command = Command.RESUME if held else Command.PAUSE
        if command is Command.PAUSE:
            if not held and not self._quitting:
                self._pausing = True
                self._paused_at = self._clock
                self._pause.set(0.0, frames(PAUSE_FADE_S))
        elif command is Command.RESUME:
            if held:
                self._resume()
        elif command is Command.NEXT or command is Command.REPEAT:
            if self._replan is not None and not self._quitting:
                self._skip(to_next=command is Command.NEXT)
        elif command is Command.EXTEND:
            if self._replan is not None and self._step_count:
                self._extend(value if value is not None else EXTEND_S)
        elif command is Command.VOLUME:
            self._volume_db = float(np.clip(self._volume_db + (value or 0.0), *VOLUME_RANGE_DB))
            self._volume.set(float(dsp.db_to_gain(self._volume_db)), frames(GAIN_RAMP_S))
        elif command is Command.BALANCE:
            levels = self.mixer.levels
            balance = float(np.clip(levels.balance_db + (value or 0.0), *BALANCE_RANGE_DB))
            self.mixer.levels = replace(levels, balance_db=balance)
        elif command is Command.QUIT:
            if not self._quitting:
                self._quitting = True
                self._stopped_early = self._clock < self.mixer.timeline.fade_out_start
                self._quit.set(0.0, frames(value if value is not None else 3.0))
                if self._paused:  # already silent: nothing to fade, the session ends at once
                    self._end_override = self._out
        else:
            raise ValueError(f"Session has no handling for command {command!r}")

    def _skip(self, *, to_next: bool) -> None:
        """next / repeat: re-plan from the next step or this step's first line, SKIP_DELAY_S from now."""
        if self._paused or self._pausing:
            self._resume(restart_line=False)
        timeline = self.mixer.timeline
        current = timeline.step_at(self._clock)
        in_outro = not timeline.steps or self._clock >= timeline.steps[-1].hold_end
        if not in_outro:
            target = current + 1 if to_next else current
            self._switch(self._replan(start_step=target, start_line=0,
                                      origin=self._clock + self._frames(SKIP_DELAY_S),
                                      extra_holds=dict(timeline.extra_holds)))

    def _resume(self, *, restart_line: bool = True) -> None:
        frames = self._frames(PAUSE_FADE_S)
        if restart_line and self._replan is not None and self._paused_at is not None:
            spoken = [e for e in self.mixer.timeline.voice if e.start <= self._paused_at < e.end
                      or (self._paused_at <= e.start < self._clock)]
            if spoken:
                first = spoken[0]
                self._switch(self._replan(start_step=first.step, start_line=first.line,
                                          origin=self._clock + frames,
                                          extra_holds=dict(self.mixer.timeline.extra_holds)))
        self._paused = self._pausing = False
        self._paused_at = None
        self._pause.set(1.0, frames)

    def _switch(self, timeline: Timeline) -> None:
        self.mixer.replan(timeline, self._clock)

    def _extend(self, seconds: float) -> None:
        timeline = self.mixer.timeline
        current = timeline.step_at(self._clock)
        if self._clock >= timeline.mark(current).hold_end:
            return  # this step's hold is over; nothing to extend
        self.mixer.timeline = extend_hold(timeline, current, seconds)

    # -- rendering ------------------------------------------------------------------------------------
    def _mix(self, frames: int) -> np.ndarray:
        block = self.mixer.render(self._clock, frames)
        self._clock += frames
        return block

    def render(self, out: np.ndarray) -> int:
        """Fill ``out`` ((frames, 2) float32) completely; return how many frames belong to the session."""
        while True:
            try:
                command, value = self._commands.get_nowait()
            except queue.Empty:
                break
            self._apply(command, value)
        frames = len(out)
        if self.finished:
            out.fill(0.0)
            return 0
        if self._paused and self._end_override is not None:
            out.fill(0.0)
            self.finished = True
            self._publish()
            return 0
        if self._paused:
            out.fill(0.0)  # the clock stands still; the limiter keeps its (silent) state
            self._cues = np.zeros((frames, CHANNELS), np.float32)
            self._publish()
            return frames
        block = self._mix(frames)
        gain = self._pause.take(frames)
        if self._pausing and not self._pause.moving:
            self._paused, self._pausing = True, False
        gain = gain * self._quit.take(frames)
        self._queue_cues(gain, frames)
        gain = gain * self._volume.take(frames)
        dsp.scale_frames(block, gain)
        self._limiter.process(block, out=out)
        if silence_non_finite(out):
            self.non_finite_blocks += 1
            if self.non_finite_blocks == 1:
                log.warning("the mix held invalid samples (NaN or infinity); they were replaced by silence")
        written = frames
        if self._quitting and not self._quit.moving and self._end_override is None:
            # Silent from the mix clock on; let the limiter's look-ahead drain, then stop.
            self._end_override = self._clock
        end = self.mixer.timeline.end if self._end_override is None else self._end_override
        if self._out + frames >= end:
            written = max(0, end - self._out)
            out[written:] = 0.0
            self.finished = True
        self._out += frames
        self._publish()
        return written

    def _queue_cues(self, gain: float | np.ndarray, frames: int | None = None) -> None:
        """Delay the cue bus of the frames just mixed by the limiter's latency (with pause/quit fades)."""
        cues = self.mixer.render_cues()
        if cues is None:
            return
        cues = dsp.scale_frames(cues.astype(np.float32), gain)  # (astype copies: the mixer keeps its bus)
        self._cue_delay = np.concatenate([self._cue_delay, cues])
        if frames is not None:
            self._cues, self._cue_delay = self._cue_delay[:frames], self._cue_delay[frames:]

    def render_cues(self, out: np.ndarray) -> None:
        """The cue bus for the same output frames as the last ``render`` (only for sessions built with
        separate cues; otherwise silence)."""
        out.fill(0.0)
        take = min(len(out), len(self._cues))
        out[:take] = self._cues[:take]

    # -- status ---------------------------------------------------------------------------------------
    def _publish(self) -> None:
        # One tuple assignment (atomic): status() builds its snapshot from it on the reader's thread, so
        # the render path does no status work at all.
        self._seen = (self._out, self.mixer.timeline, self._end_override, self._volume_db,
                      self.mixer.levels.balance_db, self._paused or self._pausing, self.finished,
                      self._stopped_early)

    def status(self) -> Status:
        """A snapshot of where the session is (immutable; safe to call from any thread)."""
        return self._snapshot(*self._seen) if self._seen else self._snapshot(
            0, self.mixer.timeline, None, self._volume_db, self.mixer.levels.balance_db, False, False, False)

    @property
    def timeline(self) -> Timeline:
        return self.mixer.timeline

    def _snapshot(self, now: int, tl: Timeline, end_override: int | None, volume_db: float, balance_db: float,
                  paused: bool, finished: bool, stopped_early: bool) -> Status:
        starts = [e.start for e in tl.voice]
        nxt = bisect.bisect_right(starts, now)
        speaking = any(e.start <= now < e.end for e in tl.voice[max(0, nxt - 4): nxt])
        index = tl.step_at(now) if tl.steps else -1
        mark = tl.mark(index) if tl.steps and any(m.index == index for m in tl.steps) else None
        return Status(
            routine=self.name,
            step_index=index,
            step_count=self._step_count,
            step_title=mark.title if mark else "",
            doing=mark.do if mark else "",
            speaking=speaking,
            countdown_s=(starts[nxt] - now) / self.rate_hz if nxt < len(starts) else None,
            elapsed_s=now / self.rate_hz,
            total_s=(tl.end if end_override is None else end_override) / self.rate_hz,
            volume_db=volume_db,
            balance_db=balance_db,
            paused=paused,
            finished=finished,
            stopped_early=stopped_early,
        )

    def close(self) -> None:
        if self.mixer.music is not None:
            self.mixer.music.close()
        self.mixer.clips.close()
