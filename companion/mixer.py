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
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion import CHANNELS, dsp
from companion.music import MusicStream
from companion.sources import load_clip
from companion.timeline import DUCK_LEAD_S, DUCK_RELEASE_S, DUCK_TAIL_S, Span, Timeline, VoiceEvent

CHIME_BELOW_VOICE_DB = 8.0
BREATH_SWELL_DB = 2.0         # the music rises this much on each in-breath of a paced hold
VOICE_CUT_S = 0.06            # a line cut short by a control fades out over this
REPLAN_BLEND_S = 0.5          # the duck envelope moves from the old plan to the new one over this


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


class ClipStore:
    """Decoded, loudness-normalised clips by path; a small LRU keeps memory bounded."""

    def __init__(self, rate_hz: int, target_lufs: float, *, capacity: int = 24) -> None:
        self.rate_hz = rate_hz
        self.target_lufs = target_lufs
        self.capacity = capacity
        self._clips: OrderedDict[tuple[Path, float], np.ndarray] = OrderedDict()

    def get(self, path: Path, offset_db: float = 0.0) -> np.ndarray:
        key = (path, offset_db)
        clip = self._clips.get(key)
        if clip is None:
            raw = load_clip(path, self.rate_hz)
            lufs = dsp.integrated_loudness(raw, self.rate_hz)
            gain = dsp.db_to_gain(self.target_lufs + offset_db - lufs) if lufs > -70 else 1.0
            clip = dsp.edge_fades(raw * np.float32(gain), self.rate_hz, 0.005)
            self._clips[key] = clip
            while len(self._clips) > self.capacity:
                self._clips.popitem(last=False)
        else:
            self._clips.move_to_end(key)
        return clip


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
        self.timeline = timeline
        self.music = music
        self.clips = clips
        self.chime = chime
        self.levels = levels
        self.cue_bus = cue_bus           # voice goes to render_cues(), not into the main mix
        self._previous: Timeline | None = None
        self._switch = 0
        self._cuts: list[_Cut] = []
        self._cue_out: np.ndarray | None = None
        self._frames = lambda seconds: int(round(seconds * self.rate_hz))  # noqa: E731

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
        out = np.zeros((frames, CHANNELS), np.float32)
        voice_target = out
        if self.cue_bus:
            self._cue_out = np.zeros((frames, CHANNELS), np.float32)
            voice_target = self._cue_out
        if self.music is not None:
            music = self.music.read(frames)
            gain = self._music_gain(start, frames)
            if np.isscalar(gain):
                if gain != 0.0:
                    out += music * np.float32(gain)
            else:
                out += music * gain[:, None].astype(np.float32)
        voice_gain = np.float32(self.levels.voice_gain)
        for event in self._voice_events(self.timeline, start, frames):
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
                        self._place(out, chime_clip, chime.start, start, voice_gain)
        return out

    def render_cues(self) -> np.ndarray | None:
        """The cue bus of the last ``render()`` call (only with ``cue_bus=True``)."""
        return self._cue_out

    @staticmethod
    def _voice_events(timeline: Timeline, start: int, frames: int) -> list[VoiceEvent]:
        events = timeline.voice
        starts = [e.start for e in events]
        last = bisect.bisect_left(starts, start + frames)
        return [e for e in events[:last] if e.end > start]

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
            piece *= (1.0 - dsp.raised_cosine((frames_idx - fade_from) / max(fade_to - fade_from, 1)))[:, None].astype(np.float32)
        out[lo - block_start: hi - block_start] += piece

    # -- the music gain curve -------------------------------------------------------------------------
    def _music_gain(self, start: int, frames: int) -> float | np.ndarray:
        """Per-frame music gain: level x duck x breath x session fades (scalar when constant)."""
        depth = self._duck_depth(self.timeline, start, frames)
        if self._previous is not None:
            blend_end = self._switch + self._frames(REPLAN_BLEND_S)
            if start < blend_end:
                old = self._duck_depth(self._previous, start, frames)
                w = dsp.raised_cosine((np.arange(start, start + frames) - self._switch) / (blend_end - self._switch))
                depth = _as_array(old, frames) * (1 - w) + _as_array(depth, frames) * w
            else:
                self._previous = None
        duck_gain = float(dsp.db_to_gain(-self.levels.duck_db))
        gain = self.levels.music_gain * (1.0 - (1.0 - duck_gain) * depth)
        gain = gain * self._breath(start, frames) * self._fades(start, frames)
        if isinstance(gain, np.ndarray) and gain.min() == gain.max():
            return float(gain[0])
        return gain

    def _duck_depth(self, timeline: Timeline, start: int, frames: int) -> float | np.ndarray:
        """0 (music at its level) .. 1 (fully ducked) for each frame."""
        lead, tail, release = (self._frames(DUCK_LEAD_S), self._frames(DUCK_TAIL_S), self._frames(DUCK_RELEASE_S))
        end = start + frames
        spans: tuple[Span, ...] = timeline.ducks
        relevant = [s for s in spans if s.start - lead < end and s.end + tail + release > start]
        if not relevant:
            return 0.0
        depth = np.zeros(frames)
        idx = np.arange(start, end)
        for span in relevant:
            down = dsp.raised_cosine((idx - (span.start - lead)) / lead)
            up = 1.0 - dsp.raised_cosine((idx - (span.end + tail)) / release)
            np.maximum(depth, np.minimum(down, up), out=depth)
        if depth.min() == depth.max():
            return float(depth[0])
        return depth

    def _breath(self, start: int, frames: int) -> float | np.ndarray:
        end = start + frames
        swell = float(dsp.db_to_gain(BREATH_SWELL_DB)) - 1.0
        result: float | np.ndarray = 1.0
        for mark in self.timeline.steps:
            if mark.breath is None or mark.hold_end <= start or mark.hold_start >= end:
                continue
            idx = np.arange(start, end)
            t = (idx - mark.hold_start) / self.rate_hz
            cycle = mark.breath.in_s + mark.breath.out_s
            phase = np.mod(t, cycle)
            shape = np.where(phase < mark.breath.in_s, dsp.raised_cosine(phase / mark.breath.in_s),
                             1.0 - dsp.raised_cosine((phase - mark.breath.in_s) / mark.breath.out_s))
            edge_s = min(3.0, (mark.hold_end - mark.hold_start) / self.rate_hz / 2)
            envelope = np.minimum(dsp.raised_cosine(t / edge_s),
                                  dsp.raised_cosine((mark.hold_end - idx) / self.rate_hz / edge_s))
            inside = (idx >= mark.hold_start) & (idx < mark.hold_end)
            result = result * (1.0 + swell * shape * envelope * inside)
        return result

    def _fades(self, start: int, frames: int) -> float | np.ndarray:
        """Session fade-in from frame 0 and fade-out to ``timeline.end`` (raised cosine), on the music."""
        tl = self.timeline
        end = start + frames
        music_end = tl.end if tl.music_end is None else tl.music_end
        if start >= tl.fade_in_frames and end <= tl.fade_out_start:
            return 1.0
        if start >= music_end:
            return 0.0
        idx = np.arange(start, end)
        fade_in = dsp.raised_cosine(idx / max(tl.fade_in_frames, 1))
        fade_out = 1.0 - dsp.raised_cosine((idx - tl.fade_out_start) / max(music_end - tl.fade_out_start, 1))
        return fade_in * fade_out


def _as_array(value: float | np.ndarray, frames: int) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else np.full(frames, value)
