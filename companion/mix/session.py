"""A running session: the clock, the controls that change what is played, and status snapshots.

``Session.render(out)`` is the one call the file writer makes: the content (``render_ahead``) followed by
the output stage (``companion.mix.output_stage``: pause, quit and volume ramps and the master limiter).
Live playback splits the two: its render thread calls ``render_ahead`` to fill a ring, and the audio
callback runs ``stage.process`` on the block leaving for the device, so those keys answer at once. With
no controls posted both paths give exactly the same samples.

Controls (``post``) are queued from any thread and applied at the next block, always as ramps:

- pause / resume: a 0.7 s raised-cosine fade in the stage; the clock stops where the fade reaches silence
  (music and voice wait) and runs again on resume, when the narration line that was interrupted starts
  again from its beginning.
- next / repeat: re-plan from the next step, or from the current step's first line, 0.8 s from now; the line
  in progress fades out over 60 ms and the ducking blends over 0.5 s. ``replans`` counts them, so a live
  player knows to flush what it rendered ahead under the old plan.
- extend: the current hold lasts 30 s longer (everything after it moves later).
- volume: 1 dB steps, ramped over 150 ms (stage). balance: 1 dB steps of voice against music, ramped over
  150 ms (stage: the mixer hands it the voice as a stem of its own).
- quit: a gentle fade (3 s by default) in the stage, and the end where it reaches silence.

The mixer runs ``stage.latency`` (the limiter's look-ahead) frames ahead of the output so the limiter needs
no special case: output frame n is mix frame n.
"""

from __future__ import annotations

import bisect
import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from companion import CHANNELS
from companion.controls import Command, as_command
from companion.durations import seconds_to_frames
from companion.mix.mixer import Mixer
from companion.mix.output_stage import PAUSE_FADE_S, OutputStage
from companion.plan.timeline import Timeline, extend_hold

SKIP_DELAY_S = 0.8
EXTEND_S = 30.0
STAGE_COMMANDS = frozenset({Command.PAUSE, Command.RESUME, Command.VOLUME, Command.BALANCE, Command.QUIT})

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
    track: str = ""          # file name of the music track being rendered ("" with no music)


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
        self.stage = OutputStage(self.rate_hz, volume_db=volume_db)
        # The voice comes out as a stem of its own, balanced against the music by the stage (heard at once);
        # the mixer's own balance stays 0.
        mixer.voice_bus = True
        self._clock = 0                   # session frame the mixer renders next
        self._out = 0                     # output frames delivered
        self._holding = False             # as posted: what the next space bar means
        self._seen_hold = self.stage.hold
        self._stop_at: int | None = None  # the clock stops here (a pause fade reaches silence)
        self._paused_at: int | None = None
        self._paused = False
        self._skip_resume = False
        self._quitting = False            # as posted (a pause after quit means nothing)
        self._quit_applied = False
        self._stopped_early = False
        self._end_override: int | None = None
        self.replans = 0                  # next/repeat re-plans so far
        self.block_frame = 0              # mix frame of the first sample of the last block rendered
        self.finished = False
        self._seen: tuple = ()
        self._tracks: tuple[tuple[int, str], ...] = ()   # (output frame, track): the last changes of music track
        # The cue bus (ambient --cue-device) is delayed like the main output, so the two stay aligned.
        self._cue_delay = np.zeros((0, CHANNELS), np.float32)
        self._cues = np.zeros((0, CHANNELS), np.float32)
        # Prime the limiter so output frame n is mix frame n.
        primer, voice = self._mix(self.stage.latency)
        self.stage.process(primer, np.empty_like(primer), voice=voice)
        self._queue_cues()

    # -- controls -------------------------------------------------------------------------------------
    def post(self, command: Command | str, value: float | None = None) -> None:
        """Queue a control from any thread. Gain controls go to the output stage (heard at its next
        block); the others change the content from the next ``render_ahead``.

        Raises ValueError here, on the caller's thread, for anything that is not a ``Command``.
        """
        command = as_command(command)
        if command is Command.TOGGLE:
            command = Command.RESUME if self._holding else Command.PAUSE
        if command is Command.PAUSE and not self._quitting:
            self._holding = True
        elif command in (Command.RESUME, Command.NEXT, Command.REPEAT):
            self._holding = False
            if command is not Command.RESUME:
                self.stage.post(Command.RESUME)    # a skip while paused plays on
        if command is Command.QUIT:
            self._quitting = True
        if command in STAGE_COMMANDS:
            self.stage.post(command, value)
        if command not in (Command.PAUSE, Command.RESUME, Command.VOLUME, Command.BALANCE):
            self._commands.put((command, value))

    def _frames(self, seconds: float) -> int:
        return seconds_to_frames(seconds, self.rate_hz)

    @property
    def has_commands(self) -> bool:
        """Content controls are waiting for the next ``render_ahead``."""
        return not self._commands.empty()

    def _apply(self, command: Command, value: float | None) -> None:
        """Act on one control on the render thread; a command without a branch here raises (it is
        never silently ignored). Gain controls normally reach the stage from ``post`` directly."""
        if command is Command.TOGGLE:
            command = Command.RESUME if self._holding else Command.PAUSE
        if command in (Command.PAUSE, Command.RESUME, Command.VOLUME, Command.BALANCE):
            self.stage.post(command, value)
        elif command is Command.NEXT or command is Command.REPEAT:
            if self._replan is not None and not self._quit_applied:
                self._skip(to_next=command is Command.NEXT)
        elif command is Command.EXTEND:
            if self._replan is not None and self._step_count:
                self._extend(value if value is not None else EXTEND_S)
        elif command is Command.QUIT:
            if not self._quit_applied:
                self._quit_applied = True
                self._stopped_early = self._clock < self.mixer.timeline.fade_out_start
        else:
            raise ValueError(f"Session has no handling for command {command!r}")

    def _skip(self, *, to_next: bool) -> None:
        """next / repeat: re-plan from the next step or this step's first line, SKIP_DELAY_S from now
        (a live player flushes what it rendered ahead when ``replans`` moves)."""
        if self._paused or self._stop_at is not None:
            self._skip_resume = True         # the stage's resume (posted with the skip) keeps the line
        timeline = self.mixer.timeline
        current = timeline.step_at(self._clock)
        in_outro = not timeline.steps or self._clock >= timeline.steps[-1].hold_end
        if not in_outro:
            target = current + 1 if to_next else current
            self._switch(self._replan(start_step=target, start_line=0,
                                      origin=self._clock + self._frames(SKIP_DELAY_S),
                                      extra_holds=dict(timeline.extra_holds)))
            self.replans += 1

    def _follow_stage(self) -> None:
        """Follow the stage's pauses and resumes (read from one atomic tuple) and its quit."""
        hold = self.stage.hold
        if hold != self._seen_hold:
            pauses, resumes, fade_start, silent_at = hold
            seen_pauses, seen_resumes = self._seen_hold[:2]
            self._seen_hold = hold
            if pauses > seen_pauses and self._paused_at is None:
                self._paused_at = fade_start
            if resumes > seen_resumes and (self._paused_at is not None or self._paused):
                self._resume(restart_line=not self._skip_resume)
            if pauses > resumes:             # a pause is under way: the clock stops where it is silent
                self._stop_at = silent_at
                self._paused_at = fade_start if self._paused_at is None else self._paused_at
        if self.stage.quit_at is not None and self._end_override is None:
            # Output frame n is mix frame n: the session ends where the quit fade is silent.
            self._end_override = self._out if self._paused else self.stage.quit_at

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
        self._paused = self._skip_resume = False
        self._paused_at = self._stop_at = None

    def _switch(self, timeline: Timeline) -> None:
        self.mixer.replan(timeline, self._clock)

    def _extend(self, seconds: float) -> None:
        timeline = self.mixer.timeline
        current = timeline.step_at(self._clock)
        if self._clock >= timeline.mark(current).hold_end:
            return  # this step's hold is over; nothing to extend
        self.mixer.timeline = extend_hold(timeline, current, seconds, now=self._clock)

    # -- rendering ------------------------------------------------------------------------------------
    def _mix(self, frames: int) -> tuple[np.ndarray, np.ndarray]:
        """The music stem and the voice stem of the next ``frames`` mix frames."""
        block = self.mixer.render(self._clock, frames)
        self._clock += frames
        return block, self.mixer.render_voice()

    @property
    def paused(self) -> bool:
        """The clock stands still (a pause has faded to silence): ``render_ahead`` has nothing to give."""
        return self._paused and not self.finished

    def render(self, out: np.ndarray) -> int:
        """Fill ``out`` ((frames, 2) float32) completely with the finished output (content, then the output
        stage); return how many frames belong to the session."""
        self.stage.poll()
        block, voice, written = self._content(len(out))
        if block is None:
            out.fill(0.0)
            return written
        guarded = self.stage.non_finite_blocks
        self.stage.process(block, out, self.block_frame, voice=voice)
        if self.stage.non_finite_blocks and not guarded:
            log.warning("the mix held invalid samples (NaN or infinity); they were replaced by silence")
        out[written:] = 0.0
        return written

    def render_ahead(self, out: np.ndarray, voice: np.ndarray | None = None) -> int | None:
        """Fill ``out`` with the next content frames (mix frames, before the output stage) for a live
        player's ring, and ``voice`` with their voice stem (``out`` then holds the music alone, for
        ``stage.process(out, ..., voice=voice)`` to balance; without ``voice`` the two are summed here,
        unbalanced). Return how many of them belong to the session (0 once finished). None while
        paused: the clock stands still, nothing was rendered, the caller asks again later."""
        block, stem, written = self._content(len(out))
        if block is None:
            out.fill(0.0)
            if voice is not None:
                voice.fill(0.0)
            return None if self.paused else 0
        if voice is None:
            np.add(block, stem, out=out)
        else:
            out[:] = block
            voice[:] = stem
        return written

    def _content(self, frames: int) -> tuple[np.ndarray | None, np.ndarray | None, int]:
        """The next ``frames`` mix frames (music stem, voice stem) and how many output frames of them
        belong to the session; (None, None, frames) while paused (the clock stands still), (None, None, 0)
        once finished."""
        while True:
            try:
                command, value = self._commands.get_nowait()
            except queue.Empty:
                break
            self._apply(command, value)
        self._follow_stage()
        if self.finished:
            return None, None, 0
        if self._paused and self._end_override is not None:
            self.finished = True
            self._publish()
            return None, None, 0
        if self._paused:
            self._cues = np.zeros((frames, CHANNELS), np.float32)
            self._publish()
            return None, None, frames
        self.block_frame = self._clock
        stop = self._stop_at
        if stop is not None and stop < self._clock + frames:
            # The pause fade reaches silence inside this block: mix up to there, silence after.
            upto = max(stop - self._clock, 0)
            block = np.zeros((frames, CHANNELS), np.float32)
            voice = np.zeros((frames, CHANNELS), np.float32)
            block[:upto], voice[:upto] = self._mix(upto)
            self._paused, self._stop_at = True, None
        else:
            block, voice = self._mix(frames)
        self._queue_cues(frames)
        written = frames
        end = self.mixer.timeline.end if self._end_override is None else self._end_override
        if self._out + frames >= end:
            written = max(0, end - self._out)
            self.finished = True
        self._out += frames
        self._publish()
        return block, voice, written

    def _queue_cues(self, frames: int | None = None) -> None:
        """Delay the cue bus of the frames just mixed by the limiter's latency (the cue player's own
        output stage fades it on pause and quit)."""
        cues = self.mixer.render_cues()
        if cues is None:
            return
        self._cue_delay = np.concatenate([self._cue_delay, cues.astype(np.float32)])
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
        track = self._track_name()
        if not self._tracks or self._tracks[-1][1] != track:
            self._tracks = (*self._tracks[-7:], (self._out, track))
        self._seen = (self._out, self.mixer.timeline, self._end_override, self.stage.volume_db,
                      self.stage.balance_db, self._holding or self._paused, self.finished,
                      self._stopped_early)

    def status(self, heard_frame: int | None = None) -> Status:
        """A snapshot of where the session is (immutable; safe to call from any thread).

        By default the position is the last frame rendered. A live player renders ahead of what is heard
        (its ring and the device buffer, ~0.6 s), so it passes ``heard_frame``, the output frame being
        heard now: the clock, step and countdown are then those of the sound in the room (never past
        what was rendered)."""
        seen = self._seen or (0, self.mixer.timeline, None, self.stage.volume_db, self.stage.balance_db,
                              False, False, False)
        if heard_frame is not None:
            seen = (min(max(heard_frame, 0), seen[0]), *seen[1:])
        return self._snapshot(*seen)

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
            track=self._track_at(now),
        )

    def _track_at(self, frame: int) -> str:
        """The music track heard at output ``frame``: the last change at or before it (a live player asks
        for the heard frame, about 0.6 s behind what the mixer is reading)."""
        tracks = self._tracks
        earlier = [name for start, name in tracks if start <= frame]
        if earlier:
            return earlier[-1]
        return tracks[0][1] if tracks else self._track_name()

    def _track_name(self) -> str:
        """The music track the mixer is reading (its file name, as found on disk; may run a crossfade
        ahead of what is heard)."""
        music = self.mixer.music
        current = getattr(music, "current", None) if music is not None else None
        return current.name if current is not None else ""

    def close(self) -> None:
        if self.mixer.music is not None:
            self.mixer.music.close()
        self.mixer.clips.close()
