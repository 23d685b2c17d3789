"""Pauses after lines and cues inside holds: the routine format, its validation, and where the plan puts them.

Times are checked in frames of a 1 kHz plan (1 ms); the audio test renders real music under a silent cue
and measures the dip with tests/sessionkit.py's level meter.
"""

from __future__ import annotations

import numpy as np
import pytest

from companion.errors import RoutineError
from companion.mix.assemble import build_session
from companion.plan.routine import DEFAULT_DUCK_DB, load_routine
from companion.plan.timeline import CUE_GAP_S, CUE_TAIL_S, HOLD_LEAD_S, extend_hold, plan
from tests import sessionkit as kit

RATE = 1000
HEAD = 'name = "R"\n[session]\nline_gap_s = 1.0\n'
STEP = '[[steps]]\nid = "one"\ntitle = "One"\n'


def write(tmp_path, text: str):
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    return path


def routine_with(tmp_path, step_body: str):
    return load_routine(write(tmp_path, HEAD + STEP + step_body))


def durations(routine, seconds: float = 2.0) -> dict[tuple[int, int], float]:
    return {(i, j): seconds for i, step in enumerate(routine.steps) for j in range(len(step.spoken))}


def test_pause_after_sets_the_silence_after_its_line_and_others_keep_line_gap(tmp_path):
    routine = routine_with(tmp_path, 'lines = [{ text = "Lift your hands.", pause_after = 4.5 }, "Rest.", '
                                     '{ text = "Last.", pause_after = 3 }]\nhold = 10\n')
    voice = plan(routine, durations(routine), rate_hz=RATE, lead_in=False).voice
    gaps = [(b.start - a.end) / RATE for a, b in zip(voice, voice[1:])]
    assert gaps == [4.5, 1.0]
    mark = plan(routine, durations(routine), rate_hz=RATE, lead_in=False).steps[0]
    assert (mark.hold_start - voice[-1].end) / RATE == 3.0, "the last line's pause leads into the hold"
    plain = routine_with(tmp_path, 'lines = ["Rest."]\nhold = 10\n')
    timeline = plan(plain, durations(plain), rate_hz=RATE, lead_in=False)
    assert (timeline.steps[0].hold_start - timeline.voice[-1].end) / RATE == HOLD_LEAD_S


def test_hold_cues_sit_at_their_share_of_the_hold_and_scale_with_it(tmp_path):
    routine = routine_with(tmp_path, 'lines = ["Go."]\nhold = 60\nhold_cues = [\n'
                                     '  { before_end = 10, text = "Last few breaths." },\n'
                                     '  { at = "0:20", text = "Slow circles." },\n]\n')
    assert [c.line.text for c in routine.steps[0].hold_cues] == ["Slow circles.", "Last few breaths."]
    assert [j for j, _ in enumerate(routine.steps[0].spoken)] == [0, 1, 2]
    for scale in (1.0, 2.0, 0.75):
        timeline = plan(routine, durations(routine), rate_hz=RATE, lead_in=False, hold_scale=scale)
        mark = timeline.steps[0]
        cues = [e for e in timeline.voice if e.line >= 1]
        assert [(e.start - mark.hold_start) / RATE for e in cues] == pytest.approx([20 * scale, 50 * scale])
        assert [e.line for e in cues] == [1, 2]
        for event in cues:           # ducking is planned for the cue as for any line
            assert any(d.start <= event.start and event.end <= d.end for d in timeline.ducks)


def test_extend_moves_a_cue_written_before_the_end_with_the_end_and_leaves_the_others(tmp_path):
    """The live "extend" key (+30 s): "Last few breaths." (before_end = 10) is still said 10 s before the
    hold ends, its duck moves with it; a cue written with ``at`` stays; a cue already started stays; with a
    breathing pace the move is whole cycles (4 + 6 s: 30 s), so an on-the-breath cue stays on its half."""
    routine = routine_with(tmp_path, 'lines = ["Go."]\nhold = 60\nbreath = { in_s = 4, out_s = 6 }\n'
                                     'hold_cues = [\n  { at = "0:20", text = "Slow circles." },\n'
                                     '  { before_end = 10, on = "in", text = "Last few breaths." },\n]\n')
    timeline = plan(routine, durations(routine), rate_hz=RATE, lead_in=False)
    mark = timeline.steps[0]
    circles, last = [e for e in timeline.voice if e.line >= 1]
    extended = extend_hold(timeline, 0, 30.0, now=mark.hold_start + 5 * RATE)
    circles2, last2 = [e for e in extended.voice if e.line >= 1]
    assert circles2.start == circles.start, "a cue placed from the hold's start stays"
    assert last2.start == last.start + 30 * RATE
    assert (extended.steps[0].hold_end - last2.start) == (mark.hold_end - last.start)
    assert any(d.start <= last2.start and last2.end <= d.end for d in extended.ducks), "the music ducks under it"
    assert not any(d.start <= last.start < d.end for d in extended.ducks), "and no longer where it was"
    late = extend_hold(timeline, 0, 30.0, now=last.start + 1)
    assert [e.start for e in late.voice if e.line >= 1] == [circles.start, last.start], "already started: stays"
    odd = extend_hold(timeline, 0, 25.0, now=mark.hold_start)
    assert [e for e in odd.voice if e.line >= 1][1].start == last.start + 20 * RATE, "whole breath cycles"


@pytest.mark.parametrize("extra_s, moved_s", [(30.0, 30.0), (25.0, 20.0)])
def test_a_replan_with_extra_hold_lays_the_cues_out_as_the_extend_did(tmp_path, extra_s, moved_s):
    """After "extend", a repeat or skip re-plans with the extra hold kept: "Last few breaths."
    (before_end = 10, on the in-breath) stays 10 s before the end, moved by whole breath cycles (4 + 6 s),
    and "Slow circles." (at 0:20) stays 20 s in: the same places the live extend gave them."""
    routine = routine_with(tmp_path, 'lines = ["Go."]\nhold = 60\nbreath = { in_s = 4, out_s = 6 }\n'
                                     'hold_cues = [\n  { at = "0:20", text = "Slow circles." },\n'
                                     '  { before_end = 10, on = "in", text = "Last few breaths." },\n]\n')
    timeline = plan(routine, durations(routine), rate_hz=RATE, lead_in=False)
    extended = extend_hold(timeline, 0, extra_s, now=timeline.steps[0].hold_start)
    replanned = plan(routine, durations(routine), rate_hz=RATE, lead_in=False, extra_holds={0: extra_s})

    def cue_places(t):
        mark = t.steps[0]
        return [((e.start - mark.hold_start) / RATE, (mark.hold_end - e.start) / RATE)
                for e in t.voice if e.line >= 1]

    (circles_in_s, _), (last_in_s, last_to_end_s) = cue_places(replanned)
    assert circles_in_s == pytest.approx(20.0, abs=0.001), "a cue placed from the hold's start stays"
    assert last_in_s == pytest.approx(50.0 + moved_s, abs=0.001), "moved by whole breath cycles"
    assert (last_in_s % 10.0) == pytest.approx(0.0, abs=0.001), "on the in-breath"
    assert last_to_end_s == pytest.approx(10.0 + extra_s - moved_s, abs=0.001)
    assert cue_places(replanned) == cue_places(extended)


def test_a_cue_that_no_longer_fits_a_shrunk_hold_moves_earlier_or_is_left_out(tmp_path):
    routine = routine_with(tmp_path, 'lines = ["Go."]\nhold = 20\nhold_cues = [\n'
                                     '  { at = 5, text = "One." },\n  { at = 15, text = "Two." },\n'
                                     '  { before_end = 1, text = "Three." },\n]\n')
    timeline = plan(routine, durations(routine, 2.0), rate_hz=RATE, lead_in=False, hold_scale=0.5)
    mark = timeline.steps[0]
    starts = [(e.start - mark.hold_start) / RATE for e in timeline.voice if e.line >= 1]
    # hold 10 s: "One" at 2.5; "Two" wanted at 7.5 must end by 10 - tail, so it moves to 7.0; "Three" is out.
    assert starts == pytest.approx([2.5, 10 - CUE_TAIL_S - 2.0])
    assert starts[1] >= starts[0] + 2.0 + CUE_GAP_S


def test_breath_cues_start_on_their_half_of_the_breath_cycle(tmp_path):
    routine = routine_with(tmp_path, 'lines = ["Go."]\nhold = 60\nbreath = { in_s = 4, out_s = 6 }\n'
                                     'hold_cues = [\n  { at = 3, on = "in", text = "In." },\n'
                                     '  { at = 3, on = "out", text = "Out." },\n'
                                     '  { at = "0:31", on = "out", text = "Out again." },\n]\n')
    timeline = plan(routine, durations(routine, 1.5), rate_hz=RATE, lead_in=False, hold_scale=1.0)
    mark = timeline.steps[0]
    starts = [(e.start - mark.hold_start) / RATE for e in timeline.voice if e.line >= 1]
    # cycle 10 s; "in" halves start at 0, 10, 20 ...; "out" halves at 4, 14, 24, 34 ...
    assert starts == pytest.approx([10.0, 14.0, 34.0])


def test_a_breath_cue_longer_than_its_half_breath_is_refused_naming_step_and_cue(tmp_path):
    routine = routine_with(tmp_path, 'lines = ["Go."]\nhold = 60\nbreath = { in_s = 2, out_s = 6 }\n'
                                     'hold_cues = [{ at = 3, on = "in", text = "Breathe in slowly and deeply." }]\n')
    with pytest.raises(RoutineError) as caught:
        plan(routine, durations(routine, 3.0), rate_hz=RATE)
    assert "step 1 ('one'): hold_cues[1]" in str(caught.value) and "in-breath lasts 2 s" in str(caught.value)


@pytest.mark.parametrize("body, expected", [
    ('lines = [{ text = "A.", pause_after = -1 }]\nhold = 5\n', "lines[1]: pause_after is -1; allowed: a number from 0 to 60 (s)"),
    ('lines = [{ text = "A.", pause_after = nan }]\nhold = 5\n', "lines[1]: pause_after is nan; allowed"),
    ('lines = [{ text = "A.", pause_after = "4" }]\nhold = 5\n', "lines[1]: pause_after must be a number (s)"),
    ('lines = [{ text = "A.", pause = 4 }]\nhold = 5\n', "unknown key 'pause' (did you mean 'pause_after'?)"),
    ('lines = ["A."]\nhold = 5\nhold_cues = "Now."\n', "'hold_cues' must be a list of { at, text } tables"),
    ('lines = ["A."]\nhold = 0\nhold_cues = [{ at = 1, text = "B." }]\n', "'hold_cues' need a hold"),
    ('lines = ["A."]\nhold = 30\nhold_cues = [{ text = "B." }]\n',
     "hold_cues[1]: give exactly one of 'at' (time into the hold) or 'before_end'"),
    ('lines = ["A."]\nhold = 30\nhold_cues = [{ at = 1, before_end = 2, text = "B." }]\n', "got at, before_end"),
    ('lines = ["A."]\nhold = 30\nhold_cues = [{ at = "0:40", text = "B." }]\n',
     "hold_cues[1]: 'at' is '0:40' but the hold lasts only 30 s"),
    ('lines = ["A."]\nhold = 30\nhold_cues = [{ before_end = 0, text = "B." }]\n', "hold_cues[1]: 'before_end' is 0"),
    ('lines = ["A."]\nhold = 30\nhold_cues = [{ at = 1, txet = "B." }]\n', "unknown key 'txet' (did you mean 'text'?)"),
    ('lines = ["A."]\nhold = 30\nhold_cues = [{ at = 1 }]\n', "hold_cues[1]: give a 'text', a 'clip', or both"),
    ('lines = ["A."]\nhold = 30\nhold_cues = [{ at = 1, text = "B.", on = "up" }]\n',
     "hold_cues[1]: 'on' must be \"in\" or \"out\""),
    ('lines = ["A."]\nhold = 30\nhold_cues = [{ at = 1, text = "B.", on = "in" }]\n',
     "hold_cues[1]: 'on' needs the step's breathing pace"),
])
def test_bad_pauses_and_hold_cues_name_file_step_and_key(tmp_path, body, expected):
    path = write(tmp_path, HEAD + STEP + body)
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    message = str(caught.value)
    assert str(path) in message and "step 1 ('one')" in message, message
    assert expected in message, message


def test_music_ducks_under_a_hold_cue(tmp_path):
    """A silent clip as the cue over a steady tone: the music alone dips by the duck depth while it speaks."""
    kit.write(tmp_path / "music" / "tone.wav", kit.tone(40.0, 440.0, -20.0))
    kit.write(tmp_path / "clips" / "s.wav", np.zeros(int(2.0 * 24_000), np.float32), 24_000)
    path = write(tmp_path, 'name = "R"\n[session]\nfade_in_s = 5\nfade_out_s = 15\nchimes = false\n' + STEP
                 + 'lines = [{ clip = "clips/s.wav" }]\nhold = 20\n'
                 'hold_cues = [{ at = 10, clip = "clips/s.wav" }]\n')
    session = build_session(load_routine(path), music=[str(tmp_path / "music")], rate_hz=kit.RATE)
    timeline = session.timeline
    cue = [e for e in timeline.voice if e.line == 1][0]
    level = kit.windows_db(kit.render_all(session), window_s=0.01)
    mark = timeline.steps[0]
    up = np.median(level[(mark.hold_start * 100) // kit.RATE + 300: (cue.start * 100) // kit.RATE - 100])
    down = np.median(level[(cue.start * 100) // kit.RATE + 5: (cue.end * 100) // kit.RATE - 5])
    assert down - up == pytest.approx(-DEFAULT_DUCK_DB, abs=1.0), f"{down - up:.1f} dB under the cue"
