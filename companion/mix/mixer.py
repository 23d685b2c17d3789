"""The mixer: how the planned events sound, one block at a time.

``Mixer.render(frame, frames)`` returns the mix for session frames ``[frame, frame + frames)``: the music
bus (faded in and out, ducked under the voice, swelling gently with a breathing pace), the voice bus (clips
placed sample-accurately) and the chime bus. Everything is a function of absolute frame numbers and of the
music stream's sample sequence, so the result does not depend on the block size.

Levels: music tracks arrive at ``Levels.music_lufs``; each voice clip is normalised to
``Levels.voice_lufs``; chimes sit ``CHIME_BELOW_VOICE_DB`` under the voice. All gain changes are ramps:
raised-cosine ducking (0.5 s lead, 1.2 s release), raised-cosine session fades, 60 ms voice fades when a
control cuts a line short, and a raised-cosine blend between the old and new plan when controls re-plan.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from companion import CHANNELS, dsp
from companion.durations import seconds_to_frames
from companion.mix.playlist import MusicStream
from companion.media.clips import ClipStore
from companion.plan.timeline import DUCK_LEAD_S, DUCK_RELEASE_S, DUCK_TAIL_S, Timeline, VoiceEvent

CHIME_BELOW_VOICE_DB = 8.0
# The music rises this much from out-breath to in-breath in a paced hold (holds only; under a cue the duck
# wins, so the voice stays clear), centred on its level (-1.75..+1.75 dB), so the session's loudness stays
# where plan_levels puts it. 2 dB (then a rise only) hid in the built-in music's own movement: fitted over
# the holds of quick-reset and head-and-neck, 0.5-2.4 dB against 1.9-2.4 dB of the music's own spread;
# at 3.5 dB, 2.0-3.9 dB (issue 12).
BREATH_SWELL_DB = 3.5
VOICE_CUT_S = 0.06            # a line cut short by a control fades out over this
REPLAN_BLEND_S = 0.5          # the duck envelope moves from the old plan to the new one over this
CONTROL_STEP = 64             # frames between evaluations of the music gain curve (see _music_gain)
PREFETCH_S = 10.0             # clips starting this soon are decoded ahead on the ClipStore's worker thread


@dataclass(frozen=True)
class Levels:
    music_lufs: float
    voice_lufs: float
    duck_db: float
    balance_db: float = 0.0   # live voice/music balance: + raises the voice and lowers the music by half each

    @property
    def voice_gain(self) -> float:
        return float(dsp.db_to_gain(self.balance_db / 2.0))

    @property
    def music_gain(self) -> float:
        return float(dsp.db_to_gain(-self.balance_db / 2.0))


@dataclass
class _Cut:
    """A voice event a re-plan interrupted: it keeps playing for a short fade from ``at``."""

    event: VoiceEvent
    at: int


class Mixer:
    def __init__(
        self,
        timeline: Timeline,
        *,
        music: MusicStream | None,
        clips: ClipStore,
        chime: Path | None,
        levels: Levels,
        cue_bus: bool = False,
    ) -> None:
        self.rate_hz = timeline.rate_hz
        self.music = music
        self.clips = clips
        self.chime = chime
        self.levels = levels
        self.cue_bus = cue_bus           # voice goes to render_cues(), not into the main mix
        # voice (and chimes) go to render_voice(), for the output stage to balance against the music
        # after the ring (companion.mix.output_stage); set by the session, which keeps levels' balance at 0
        self.voice_bus = False
        self._voice_out: np.ndarray | None = None
        self._previous: Timeline | None = None
        self._switch = 0
        self._cuts: list[_Cut] = []
        self._cue_out: np.ndarray | None = None
        self._frames = partial(seconds_to_frames, rate_hz=self.rate_hz)
        self.timeline = timeline      # (a property: indexes voice starts and gain ramps, tells the music its end)

    @property
    def timeline(self) -> Timeline:
        return self._timeline

    @timeline.setter
    def timeline(self, timeline: Timeline) -> None:
        self._timeline = timeline
        if self.music is not None:  # how far the session will read the music (bounds its read-ahead)
            self.music.until = timeline.music_stop
        self._starts = [event.start for event in timeline.voice]
        self._longest = max((event.frames for event in timeline.voice), default=0)
        self._moving = self._moving_spans(timeline)
        self._flat: tuple[Levels, int, float] | None = None   # (levels, gap, gain) of the last flat block

    def _moving_spans(self, tl: Timeline) -> tuple[list[int], list[int]]:
        """Where the music gain may move (fades, duck ramps, paced holds), as sorted disjoint [lo, hi)
        spans (their starts and their ends): between two of them, the gain is constant."""
        lead, tail, release = (self._frames(DUCK_LEAD_S), self._frames(DUCK_TAIL_S), self._frames(DUCK_RELEASE_S))
        spans = [(-(1 << 62), tl.fade_in_frames), (tl.fade_out_start, tl.music_stop)]
        for span in tl.ducks:
            spans += [(span.start - lead, span.start), (span.end + tail, span.end + tail + release)]
        spans += [(m.hold_start, m.hold_end) for m in tl.steps if m.breath is not None]
        starts: list[int] = []
        ends: list[int] = []
        for lo, hi in sorted(spans):
            if hi <= lo:
                continue
            if starts and lo <= ends[-1]:
                ends[-1] = max(ends[-1], hi)
            else:
                starts.append(lo)
                ends.append(hi)
        return starts, ends

    # -- plan changes (controls) ----------------------------------------------------------------------
    def replan(self, timeline: Timeline, at: int) -> None:
        """Switch to ``timeline`` from frame ``at``: lines in progress fade out, ducking blends over."""
        for event in self.timeline.voice:
            if event.start < at < event.end and event not in timeline.voice:
                self._cuts.append(_Cut(event, at))
        self._previous, self._switch = self.timeline, at
        self.timeline = timeline

    # -- rendering ------------------------------------------------------------------------------------
    def render(self, start: int, frames: int) -> np.ndarray:
        """The mix for session frames [start, start + frames) (float32, (frames, 2))."""
        if self.music is not None:
            # The stream hands over a fresh array: it becomes the mix bus, scaled in place.
            out = dsp.scale_frames(self.music.read(frames), self._music_gain(start, frames))
        else:
            out = np.zeros((frames, CHANNELS), np.float32)
        voice_target = out
        if self.voice_bus:
            self._voice_out = voice_target = np.zeros((frames, CHANNELS), np.float32)
        chime_target = voice_target
        if self.cue_bus:
            self._cue_out = np.zeros((frames, CHANNELS), np.float32)
            voice_target = self._cue_out
        voice_gain = np.float32(self.levels.voice_gain)
        self._prefetch(start, frames)
        if start // self.rate_hz != (start + frames) // self.rate_hz:
            self._release_finished(start)
        for event in self._voice_events(start, frames):
            self._place(voice_target, self.clips.get(event.path), event.start, start, voice_gain)
        for cut in list(self._cuts):
            end = cut.at + self._frames(VOICE_CUT_S)
            if end <= start:
                self._cuts.remove(cut)
                continue
            self._place(voice_target, self.clips.get(cut.event.path), cut.event.start, start, voice_gain,
                        fade_from=cut.at, fade_to=end)
        if self.chime is not None:
            chime_clip = None
            for chime in self.timeline.chimes:
                if chime.start < start + frames:
                    chime_clip = chime_clip if chime_clip is not None else self.clips.get(
                        self.chime, -CHIME_BELOW_VOICE_DB)
                    if chime.start + len(chime_clip) > start:
                        self._place(chime_target, chime_clip, chime.start, start, voice_gain)
        return out

    def render_voice(self) -> np.ndarray | None:
        """The voice bus (narration and chimes) of the last ``render()`` call (only with ``voice_bus``)."""
        return self._voice_out

    def render_cues(self) -> np.ndarray | None:
        """The cue bus of the last ``render()`` call (only with ``cue_bus=True``)."""
        return self._cue_out

    def _voice_events(self, start: int, frames: int) -> list[VoiceEvent]:
        """Voice events sounding in [start, start + frames)."""
        events = self.timeline.voice
        last = bisect.bisect_left(self._starts, start + frames)
        first = bisect.bisect_left(self._starts, start - self._longest)
        return [e for e in events[first:last] if e.end > start]

    def _release_finished(self, start: int) -> None:
        """Once a second: drop decoded clips that no current, cut or coming event (within the prefetch
        horizon) uses, so memory does not grow with the session's length."""
        ahead = start + self._frames(PREFETCH_S) + self.rate_hz
        keep = {(e.path, 0.0) for e in self._voice_events(start, ahead - start)}
        keep |= {(cut.event.path, 0.0) for cut in self._cuts}
        if self.chime is not None:
            keep.add((self.chime, -CHIME_BELOW_VOICE_DB))
        self.clips.keep_only(keep)

    def _prefetch(self, start: int, frames: int) -> None:
        """Ask the clip store to decode clips that start soon, off the render path."""
        ahead = start + frames + self._frames(PREFETCH_S)
        first = bisect.bisect_left(self._starts, start)
        for event in self.timeline.voice[first: bisect.bisect_left(self._starts, ahead)]:
            self.clips.prefetch(event.path)
        if self.chime is not None and any(start <= c.start < ahead for c in self.timeline.chimes):
            self.clips.prefetch(self.chime, -CHIME_BELOW_VOICE_DB)

    def _place(self, out: np.ndarray, clip: np.ndarray, clip_start: int, block_start: int, gain: np.float32,
               *, fade_from: int | None = None, fade_to: int | None = None) -> None:
        lo = max(clip_start, block_start)
        hi = min(clip_start + len(clip), block_start + len(out))
        if fade_to is not None:
            hi = min(hi, fade_to)
        if hi <= lo:
            return
        piece = clip[lo - clip_start: hi - clip_start] * gain
        if fade_from is not None and fade_to is not None:
            frames_idx = np.arange(lo, hi)
            dsp.scale_frames(piece, 1.0 - dsp.raised_cosine((frames_idx - fade_from) / max(fade_to - fade_from, 1)))
        out[lo - block_start: hi - block_start] += piece

    # -- the music gain curve -------------------------------------------------------------------------
    # Gain curves are evaluated on an absolute grid of CONTROL_STEP frames and interpolated linearly in
    # between: ~1.3 ms steps on ramps of 0.5 s and more, inaudible, and 60x less work than per frame. The
    # grid is fixed to frame 0 and "does the curve move here" is decided on grid-aligned regions, so the
    # result does not depend on the block size.
    def _music_gain(self, start: int, frames: int) -> float | np.ndarray:
        """Music gain for each frame: level x duck x breath x session fades (a scalar when flat)."""
        end = start + frames
        gap = self._flat_gap(start, end)
        if gap is not None:
            if self._flat is None or self._flat[0] is not self.levels or self._flat[1] != gap:
                self._flat = (self.levels, gap, float(self._gain_at(np.array([start]))[0]))
            return self._flat[2]
        first = start // CONTROL_STEP
        grid = np.arange(first, -(-end // CONTROL_STEP) + 1) * CONTROL_STEP
        return dsp.control_curve(self._gain_at(grid), CONTROL_STEP, start - first * CONTROL_STEP, frames)

    def _flat_gap(self, start: int, end: int) -> int | None:
        """None if a ramp of the music gain touches the grid cells around [start, end); else which gap
        between moving spans the block lies in (the gain is the same all through one gap)."""
        lo, hi = start - 2 * CONTROL_STEP, end + 2 * CONTROL_STEP
        if self._previous is not None:
            if lo < self._switch + self._frames(REPLAN_BLEND_S):
                return None
            self._previous = None
            self._flat = None
        starts, ends = self._moving
        gap = bisect.bisect_left(starts, hi)   # spans starting before hi
        return gap if gap == 0 or ends[gap - 1] <= lo else None

    def _gain_at(self, idx: np.ndarray) -> np.ndarray:
        depth = self._duck_depth(self.timeline, idx)
        if self._previous is not None:
            blend_end = self._switch + self._frames(REPLAN_BLEND_S)
            w = dsp.raised_cosine((idx - self._switch) / (blend_end - self._switch))
            depth = self._duck_depth(self._previous, idx) * (1 - w) + depth * w
        duck_gain = float(dsp.db_to_gain(-self.levels.duck_db))
        gain = self.levels.music_gain * (1.0 - (1.0 - duck_gain) * depth)
        return gain * self._breath(idx) * self._fades(idx)

    def _duck_depth(self, timeline: Timeline, idx: np.ndarray) -> np.ndarray:
        """0 (music at its level) .. 1 (fully ducked) at frames ``idx``."""
        lead, tail, release = (self._frames(DUCK_LEAD_S), self._frames(DUCK_TAIL_S), self._frames(DUCK_RELEASE_S))
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        depth = np.zeros(len(idx))
        for span in timeline.ducks:
            if span.start - lead >= hi:
                break
            if span.end + tail + release <= lo:
                continue
            down = dsp.raised_cosine((idx - (span.start - lead)) / lead)
            up = 1.0 - dsp.raised_cosine((idx - (span.end + tail)) / release)
            np.maximum(depth, np.minimum(down, up), out=depth)
        return depth

    def _breath(self, idx: np.ndarray) -> np.ndarray | float:
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        result: float | np.ndarray = 1.0
        for mark in self.timeline.steps:
            if mark.breath is None or mark.hold_end <= lo or mark.hold_start >= hi:
                continue
            t = (idx - mark.hold_start) / self.rate_hz
            phase = np.mod(t, mark.breath.in_s + mark.breath.out_s)
            shape = np.where(phase < mark.breath.in_s, dsp.raised_cosine(phase / mark.breath.in_s),
                             1.0 - dsp.raised_cosine((phase - mark.breath.in_s) / mark.breath.out_s))
            edge_s = min(3.0, (mark.hold_end - mark.hold_start) / self.rate_hz / 2)
            envelope = np.minimum(dsp.raised_cosine(t / edge_s),
                                  dsp.raised_cosine((mark.hold_end - idx) / self.rate_hz / edge_s))
            inside = (idx >= mark.hold_start) & (idx < mark.hold_end)
            result = result * dsp.db_to_gain(BREATH_SWELL_DB * (shape - 0.5) * envelope * inside)
        return result

    def _fades(self, idx: np.ndarray) -> np.ndarray:
        """Session fade-in from frame 0 and fade-out to the music's end (raised cosine), on the music."""
        tl = self.timeline
        fade_in = dsp.raised_cosine(idx / max(tl.fade_in_frames, 1))
        fade_out = 1.0 - dsp.raised_cosine((idx - tl.fade_out_start) / max(tl.music_stop - tl.fade_out_start, 1))
        return fade_in * fade_out


