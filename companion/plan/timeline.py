"""Planning: a routine and its clip lengths become a timeline of absolute events, before any sound.

The mixer never decides *when* something happens; it reads this plan. Because narration times are known in
advance, ducking is planned too: the music starts to dip before the first word and comes back after the
last one. Times are frames at the session rate (sample-accurate); ``*_s`` properties give seconds.

Layout of one step: its narration lines one after another (each followed by its own ``pause_after``, else
``line_gap_s``), then the hold (the time to do the exercise), with an optional chime at the hold's start and
end, an optional breathing pace, and its hold cues: each at its share of the hold (so they scale with
``--minutes``), never closer than ``CUE_GAP_S`` to the one before and ending ``CUE_TAIL_S`` before the hold
does; a cue ``on`` "in" or "out" starts exactly where that half of the breath cycle starts (the music swells
on the in-breath, see ``companion.mix.mixer``). A hold cue's line index follows the step's lines
(``Step.spoken``).
The session opens with a music-only lead-in during the fade-in and closes with a music-only fade-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from companion.durations import clock, seconds_to_frames
from companion.errors import BadInputError, RoutineError
from companion.plan.routine import Breath, HoldCue, Routine, Step

# Layout constants, in seconds. They shape the pacing; the routine's options set the rest.
HOLD_LEAD_S = 0.6          # after a step's last line, before its hold starts
STEP_GAP_S = 1.5           # after a hold, before the next step's first line
OUTRO_PAUSE_S = 3.0        # after the last step, before the session fade-out starts
DUCK_LEAD_S = 0.5          # the music starts to dip this long before a word
DUCK_RELEASE_S = 1.2       # raised-cosine return to the full music level (issue: >= 0.8 s)
DUCK_TAIL_S = 0.3          # stay ducked this long after the last word
DUCK_BRIDGE_S = 1.5        # voice pauses shorter than this keep the music down
HOLD_SCALE_MIN = 0.5       # --minutes may shrink holds to half ...
HOLD_SCALE_MAX = 3.0       # ... or stretch them to three times their written length
AMBIENT_CHIME_RING_S = 8.0 # an ambient session's end chime rings this long after the music has faded
CUE_GAP_S = 1.0            # at least this much quiet before a hold cue ...
BREATH_CUE_GAP_S = 0.3     # ... or before a breath cue (the turn of the breath separates them)
CUE_TAIL_S = 1.0           # a hold cue ends at least this long before its hold does


@dataclass(frozen=True)
class VoiceEvent:
    start: int                 # frame
    frames: int
    step: int                  # step index
    line: int                  # line index within the step
    path: Path
    from_end: bool = False     # a hold cue placed from the hold's end (``before_end``): "extend" moves it

    @property
    def end(self) -> int:
        return self.start + self.frames


@dataclass(frozen=True)
class ChimeEvent:
    start: int
    step: int
    at: str                    # "start" or "end" of the hold


@dataclass(frozen=True)
class StepMark:
    index: int
    id: str
    title: str
    do: str
    start: int                 # first line (or hold) of the step
    hold_start: int
    hold_end: int
    breath: Breath | None = None


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Timeline:
    rate_hz: int
    voice: tuple[VoiceEvent, ...]
    chimes: tuple[ChimeEvent, ...]
    steps: tuple[StepMark, ...]
    ducks: tuple[Span, ...]    # voice-covered spans, already bridged; the mixer adds lead and release
    fade_in_frames: int
    fade_out_start: int
    end: int                   # the last frame of the session (the fade-out reaches silence here)
    hold_scale: float = 1.0
    origin: int = 0            # frame where this plan begins (0, or the moment of a re-plan)
    extra_holds: tuple[tuple[int, float], ...] = field(default_factory=tuple)  # (step, seconds) added live
    music_end: int | None = None  # where the music's fade-out reaches silence, if before ``end``

    def seconds(self, frame: int) -> float:
        return frame / self.rate_hz

    @property
    def total_s(self) -> float:
        return self.end / self.rate_hz

    @property
    def music_stop(self) -> int:
        """The frame where the music has faded to silence (``music_end``, else the session's end)."""
        return self.end if self.music_end is None else self.music_end

    def step_at(self, frame: int) -> int:
        """Index of the step that is current at ``frame`` (the last one started; the first one before it)."""
        current = self.steps[0].index if self.steps else 0
        for mark in self.steps:
            if mark.start <= frame:
                current = mark.index
            else:
                break
        return current

    def mark(self, step: int) -> StepMark:
        for mark in self.steps:
            if mark.index == step:
                return mark
        raise KeyError(step)


def fixed_and_hold_seconds(routine: Routine, durations_s: dict[tuple[int, int], float]) -> tuple[float, float]:
    """(seconds that do not scale: lead-in, narration, gaps, outro; seconds of holds) for a whole routine."""
    timeline = plan(routine, durations_s, rate_hz=1000)
    holds = sum(step.hold_s for step in routine.steps)
    return timeline.total_s - holds, holds


def fit_hold_scale(routine: Routine, durations_s: dict[tuple[int, int], float], minutes: float) -> float:
    """The hold scale that makes the session last ``minutes``, or a BadInputError saying what is possible."""
    fixed_s, holds_s = fixed_and_hold_seconds(routine, durations_s)
    target_s = minutes * 60.0
    low, high = fixed_s + holds_s * HOLD_SCALE_MIN, fixed_s + holds_s * HOLD_SCALE_MAX
    if holds_s <= 0 or not low - 1.0 <= target_s <= high + 1.0:
        raise BadInputError(
            f"cannot fit '{routine.name}' into {minutes:g} minutes: its narration, lead-in and fade-out take "
            f"{clock(round(fixed_s))} and its holds can only be scaled between {HOLD_SCALE_MIN:g}x and "
            f"{HOLD_SCALE_MAX:g}x",
            hint=f"choose --minutes between {_tenths_up(low - 1.0)} and {_tenths_down(high + 1.0)}" if holds_s > 0
            else "this routine has no holds to scale",
        )
    return (target_s - fixed_s) / holds_s


def _tenths_up(seconds: float) -> str:
    """``seconds`` as minutes rounded UP to a tenth, so the number offered is one that fits."""
    return f"{math.ceil(seconds / 6.0 - 1e-9) / 10:.1f}"


def _tenths_down(seconds: float) -> str:
    """``seconds`` as minutes rounded DOWN to a tenth."""
    return f"{math.floor(seconds / 6.0 + 1e-9) / 10:.1f}"


def plan(
    routine: Routine,
    durations_s: dict[tuple[int, int], float],
    *,
    rate_hz: int,
    paths: dict[tuple[int, int], Path] | None = None,
    hold_scale: float = 1.0,
    start_step: int = 0,
    start_line: int = 0,
    origin: int = 0,
    lead_in: bool = True,
    extra_holds: dict[int, float] | None = None,
) -> Timeline:
    """Lay the routine out on absolute frames.

    ``durations_s[(step, line)]`` is each narration clip's length. A re-plan during playback passes
    ``start_step``/``start_line`` (where to continue), ``origin`` (the frame to continue at) and
    ``lead_in=False``; ``extra_holds`` adds seconds to individual holds (the "extend" control).
    """
    options = routine.options
    extra = extra_holds or {}
    frames = partial(seconds_to_frames, rate_hz=rate_hz)
    t = origin + (frames(0.75 * options.fade_in_s) if lead_in else 0)
    voice: list[VoiceEvent] = []
    chimes: list[ChimeEvent] = []
    marks: list[StepMark] = []
    for index in range(start_step, len(routine.steps)):
        step = routine.steps[index]
        step_start = t
        first_line = start_line if index == start_step else 0
        extra_s = extra.get(index, 0.0)
        hold_s = step.hold_s * hold_scale + extra_s
        for line_index in range(first_line, len(step.lines)):
            line = step.lines[line_index]
            length = frames(durations_s[(index, line_index)])
            path = (paths or {}).get((index, line_index), Path())
            voice.append(VoiceEvent(t, length, index, line_index, path))
            t += length
            if line_index < len(step.lines) - 1:
                t += frames(options.line_gap_s if line.pause_after_s is None else line.pause_after_s)
            elif hold_s > 0:
                t += frames(HOLD_LEAD_S if line.pause_after_s is None else line.pause_after_s)
        hold_start = t
        hold_end = t + frames(hold_s)
        for cue_index, at, length in place_hold_cues(step, index, durations_s, hold_s, first_line, routine,
                                                     extra_s=extra_s):
            key = (index, len(step.lines) + cue_index)
            voice.append(VoiceEvent(hold_start + frames(at), frames(length), index, key[1],
                                    (paths or {}).get(key, Path()), step.hold_cues[cue_index].from_end))
        if options.chimes and hold_s > 0:
            if step.chime_start:
                chimes.append(ChimeEvent(hold_start, index, "start"))
            if step.chime_end:
                chimes.append(ChimeEvent(hold_end, index, "end"))
        marks.append(StepMark(index, step.id, step.title, step.do, step_start, hold_start, hold_end, step.breath))
        t = hold_end + frames(STEP_GAP_S if index < len(routine.steps) - 1 else 0.0)
    fade_out_start = t + frames(OUTRO_PAUSE_S)
    end = fade_out_start + frames(options.fade_out_s)
    return Timeline(
        rate_hz=rate_hz,
        voice=tuple(sorted(voice, key=lambda event: event.start)),
        chimes=tuple(chimes),
        steps=tuple(marks),
        ducks=tuple(bridge_spans([Span(v.start, v.end) for v in voice], frames(DUCK_BRIDGE_S))),
        fade_in_frames=frames(options.fade_in_s),
        fade_out_start=fade_out_start,
        end=end,
        hold_scale=hold_scale,
        origin=origin,
        extra_holds=tuple(sorted(extra.items())),
    )


def whole_breaths_s(seconds: float, breath: Breath | None) -> float:
    """``seconds`` rounded down to whole breath cycles of ``breath`` (unchanged for a step with no pace):
    how far a ``before_end`` cue moves when its hold grows by ``seconds``, so a cue on the in-breath stays
    on it. ``extend_hold`` and a re-plan's ``place_hold_cues`` both move cues by this."""
    if breath is None or breath.in_s + breath.out_s <= 0:
        return seconds
    cycle_s = breath.in_s + breath.out_s
    return math.floor(seconds / cycle_s + 1e-9) * cycle_s


def place_hold_cues(step: Step, index: int, durations_s: dict[tuple[int, int], float], hold_s: float,
                    first_line: int = 0, routine: Routine | None = None,
                    extra_s: float = 0.0) -> list[tuple[int, float, float]]:
    """(cue index, seconds into the hold, seconds long) for each hold cue that fits the hold as played.

    ``hold_s`` is the hold as played, of which ``extra_s`` was added live ("extend", kept by a re-plan).
    Each cue goes to its share of the hold before the extra; a cue written ``before_end`` then moves
    with the end by the extra (whole breath cycles when the step has a pace, as ``extend_hold`` moves
    it, so it stays on its half of the breath and a re-plan lays the hold out as the extend did). A cue
    waits until the one before it has ended ``CUE_GAP_S`` (``BREATH_CUE_GAP_S`` for a breath cue)
    earlier; a breath cue then moves on to the next start of its half-cycle. A cue that would not end
    ``CUE_TAIL_S`` before the hold ends moves earlier if it can, else it is left out (a hold shrunk by
    ``--minutes``). Cues already spoken before a re-plan (line index < ``first_line``) are skipped.
    Raises RoutineError when a breath cue is longer than its half of the breath.
    """
    written_s = hold_s - extra_s
    moved_s = whole_breaths_s(extra_s, step.breath) if extra_s > 0 else extra_s
    share_s = {cue_index: cue.fraction * written_s + (moved_s if cue.from_end else 0.0)
               for cue_index, cue in enumerate(step.hold_cues)}
    placed: list[tuple[int, float, float]] = []
    free_from = 0.0                     # where the previous cue ended (the hold's start at first)
    limit = hold_s - CUE_TAIL_S
    for cue_index in sorted(share_s, key=lambda i: (share_s[i], i)):
        cue = step.hold_cues[cue_index]
        if len(step.lines) + cue_index < first_line:
            continue
        length = durations_s[(index, len(step.lines) + cue_index)]
        if placed:
            free_from += BREATH_CUE_GAP_S if cue.on is not None else CUE_GAP_S
        wanted = max(share_s[cue_index], free_from)
        if cue.on is not None and step.breath is not None:
            where = _cue_where(routine, step, index, cue_index)
            at = _breath_start(step.breath, cue, wanted, length, limit, free_from, where)
        else:
            at = min(wanted, limit - length)
            at = at if at >= free_from else None
        if at is None:
            continue
        placed.append((cue_index, at, length))
        free_from = at + length
    return placed


def _breath_start(breath: Breath, cue: HoldCue, wanted_s: float, length_s: float, limit_s: float,
                  free_from_s: float, where: str) -> float | None:
    """The first start of the cue's half-cycle at or after ``wanted_s`` (else the last one that fits)."""
    half_s = breath.in_s if cue.on == "in" else breath.out_s
    if length_s > half_s:
        raise RoutineError(f"{where}: the cue takes {length_s:.1f} s to say but the {cue.on}-breath lasts "
                           f"{half_s:g} s", hint="shorten the cue or slow the step's breath pace")
    cycle = breath.in_s + breath.out_s
    offset = 0.0 if cue.on == "in" else breath.in_s
    turns = max(0, math.ceil((wanted_s - offset) / cycle - 1e-9))
    at = offset + turns * cycle
    while at + length_s > limit_s and at - cycle >= free_from_s:
        at -= cycle
    return at if at + length_s <= limit_s and at >= free_from_s else None


def _cue_where(routine: Routine | None, step: Step, index: int, cue_index: int) -> str:
    source = str(routine.source) if routine is not None and routine.source else "<routine>"
    return f"{source}: step {index + 1} ('{step.id}'): hold_cues[{cue_index + 1}]"


def plan_ambient(
    length_s: float,
    *,
    rate_hz: int,
    fade_out_s: float,
    cues: list[tuple[float, Path, int]],
    end_chime: bool,
    fade_in_s: float = 10.0,
    duck: bool = True,
) -> Timeline:
    """An ambient session of exactly ``length_s``: music fading out over ``fade_out_s``.

    ``cues`` are (seconds, audio file, frames): spoken notes at their times (the music ducks under them
    when ``duck``). An end chime sounds as the fade-out reaches silence and rings out inside the length
    asked for: with it, the music ends ``AMBIENT_CHIME_RING_S`` before the session does.
    """
    frames = partial(seconds_to_frames, rate_hz=rate_hz)
    ring_s = min(AMBIENT_CHIME_RING_S, length_s / 2) if end_chime else 0.0
    session_end = frames(length_s)
    end = session_end - frames(ring_s)                    # where the music reaches silence
    fade_out_s = min(fade_out_s, (length_s - ring_s) / 2)
    voice = tuple(sorted((VoiceEvent(frames(at), length, -1, i, path) for i, (at, path, length) in enumerate(cues)),
                         key=lambda e: e.start))
    chimes = (ChimeEvent(end - frames(1.0), -1, "end"),) if end_chime else ()
    return Timeline(
        rate_hz=rate_hz,
        voice=voice,
        chimes=chimes,
        steps=(),
        ducks=tuple(bridge_spans([Span(v.start, v.end) for v in voice], frames(DUCK_BRIDGE_S))) if duck else (),
        fade_in_frames=frames(min(fade_in_s, length_s / 4)),
        fade_out_start=end - frames(fade_out_s),
        end=session_end,
        music_end=end,
    )


def bridge_spans(spans: list[Span], bridge_frames: int) -> list[Span]:
    """Merge spans separated by less than ``bridge_frames`` (the music stays down through short pauses)."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start - merged[-1].end < bridge_frames:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def extend_hold(timeline: Timeline, step: int, seconds: float, now: int = 0) -> Timeline:
    """The same plan with ``step``'s hold ``seconds`` longer: everything after the hold moves later, and so
    do the step's hold cues written from its end (``before_end``: "last few breaths" stays near the end)
    that have not started by frame ``now``. Those move by whole breath cycles when the step has a pace,
    so a cue on the in-breath stays on it."""
    mark = timeline.mark(step)
    delta = int(round(seconds * timeline.rate_hz))
    pivot = mark.hold_end
    cue_delta = seconds_to_frames(whole_breaths_s(seconds, mark.breath), timeline.rate_hz)

    def later(frame: int) -> int:
        return frame + delta if frame >= pivot else frame

    def moves_with_end(event: VoiceEvent) -> bool:
        return event.from_end and event.step == step and now <= event.start < pivot

    voice = tuple(sorted((replace(v, start=v.start + cue_delta if moves_with_end(v) else later(v.start))
                          for v in timeline.voice), key=lambda event: event.start))
    # The ducks follow the voice as plan() builds them (no span reaches across a hold's end: a cue ends
    # CUE_TAIL_S before it and the next step starts STEP_GAP_S after, more than the bridge between them).
    bridge = seconds_to_frames(DUCK_BRIDGE_S, timeline.rate_hz)
    ducks = tuple(bridge_spans([Span(v.start, v.end) for v in voice], bridge)) if timeline.ducks else ()
    extra = dict(timeline.extra_holds)
    extra[step] = extra.get(step, 0.0) + seconds
    return replace(
        timeline,
        voice=voice,
        chimes=tuple(replace(c, start=later(c.start)) for c in timeline.chimes),
        steps=tuple(replace(m, start=later(m.start), hold_start=later(m.hold_start),
                            hold_end=m.hold_end + delta if m.index == step else later(m.hold_end))
                    for m in timeline.steps),
        ducks=ducks,
        fade_out_start=later(timeline.fade_out_start),
        end=later(timeline.end),
        extra_holds=tuple(sorted(extra.items())),
    )
