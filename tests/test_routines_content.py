"""The built-in routines and their shipped narration: valid, safe, voiced by current clips at one loudness.

Measured with pyloudnorm (BS.1770) on the decoded Ogg Opus clips; tolerances are stated per assertion.
"""

from __future__ import annotations

import collections
import functools
import json
import re
import shutil
import subprocess

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from companion.narration import synthesis
from companion.narration import voicing
from companion.narration.voices import CHECK_IN_PHRASES, CUE_PHRASES, DEFAULT_VOICE
from companion.assets import audio_dir
from companion.mix.assemble import build_session
from companion.plan.routine import DEFAULT_ROUTINE, builtin_names, load_routine
from companion.plan.timeline import fit_hold_scale, plan
from tests import measure

NARRATION = audio_dir() / "narration" / DEFAULT_VOICE     # the other voices: tests/test_voices.py
MANIFEST = json.loads((NARRATION / "manifest.json").read_text(encoding="utf-8"))
TARGET_LUFS = -20.0
EXPECTED = {"head-and-neck": 15, "quick-reset": 5, "headache-ease": 12, "neck-and-shoulders": 10, "wind-down": 25}
OPENING = ("relaxation aid", "in addition to the care your provider recommends", "light pressure",
           "ease off or stop")
CLOSING = ("take your time", "sit up slowly", "dizzy or lightheaded", "severe pain",
           "new or worsening symptoms", "contact your healthcare provider")
MAX_SENTENCE_WORDS = 16


def all_lines(name: str) -> list[str]:
    """Every text the routine speaks: the steps' lines and their hold cues."""
    return [line.text for step in load_routine(name).steps for line in step.spoken]


def spoken(step) -> str:
    return " ".join(line.text for line in step.spoken).lower()


def test_the_five_builtins_exist_and_the_default_is_one_of_them():
    assert set(builtin_names()) >= set(EXPECTED), f"built-ins: {builtin_names()}"
    assert DEFAULT_ROUTINE in builtin_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_validates_and_is_set_to_its_target_length(name):
    routine = load_routine(name)
    assert routine.builtin == name
    assert routine.options.minutes == EXPECTED[name], f"{name}: session.minutes should be {EXPECTED[name]}"
    assert all(line.text and line.clip is None for step in routine.steps for line in step.spoken), \
        "built-in lines are text voiced by the shipped clips"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_written_holds_already_fit_the_target_within_15_percent(name):
    """Holds are scaled to hit `minutes`; as written they should need little scaling (0.85x..1.15x)."""
    routine = load_routine(name)
    scale = fit_hold_scale(routine, voicing.line_durations(routine), routine.options.minutes)
    assert 0.85 <= scale <= 1.15, f"{name}: holds need scaling by {scale:.2f} to last {routine.options.minutes} min"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_safety_opening_and_closing_are_present(name):
    steps = load_routine(name).steps
    opening, closing = spoken(steps[0]), spoken(steps[-1])
    for phrase in OPENING:
        assert phrase in opening, f"{name}: the opening step lacks {phrase!r}"
    for phrase in CLOSING:
        assert phrase in closing, f"{name}: the closing step lacks {phrase!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_throat_is_only_mentioned_to_say_never_press_on_it(name):
    for text in all_lines(name):
        if "throat" in text.lower():
            assert "never press on the front of your throat" in text.lower(), text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_claims_of_cure(name):
    banned = re.compile(r"\b(cure[sd]?|heal(s|ed|ing)?|guarantee[sd]?|fix(es)?|eliminat\w*)\b", re.IGNORECASE)
    for text in all_lines(name) + [load_routine(name).description]:
        assert not banned.search(text), f"{name}: {text!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sentences_are_short_and_in_the_second_person(name):
    lines = all_lines(name)
    for text in lines:
        for sentence in synthesis.split_sentences(text):
            assert len(sentence.split()) <= MAX_SENTENCE_WORDS, f"{name}: long sentence ({sentence!r})"
        assert not re.search(r"\b(I|me|my)\b", text), f"{name}: first person in {text!r}"
    said = [line.text for step in load_routine(name).steps for line in step.lines]   # hold cues are short reminders
    assert sum(bool(re.search(r"\byour?\b", t, re.IGNORECASE)) for t in said) >= 0.6 * len(said)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_recap_of_every_step_with_a_hold_is_spoken_inside_the_hold(name):
    """Eyes may be closed: a short reminder of what to do comes back during the hold, not before it."""
    steps = load_routine(name).steps
    for step in steps[:-1]:                 # the last step's hold is wind-down's final rest: quiet on purpose
        if step.hold_s > 0 and step.lines:
            recaps = [cue.line.text for cue in step.hold_cues if cue.on is None]
            assert recaps, f"{name}/{step.id}: no reminder inside the hold"
            assert all(len(t.split()) <= MAX_SENTENCE_WORDS for t in recaps), f"{name}/{step.id}: {recaps}"
            assert step.lines[-1].text not in recaps, f"{name}/{step.id}: the recap is still said before the hold"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_line_has_a_shipped_clip_made_from_its_current_text(name):
    """At the normal pace and, for a routine with another pace (wind-down: slow), at that pace too."""
    pace = load_routine(name).options.pace
    for text in all_lines(name):
        for at_pace in dict.fromkeys(("normal", pace)):
            entry = MANIFEST.get(synthesis.clip_key(text, at_pace))
            assert entry is not None, f"no {at_pace} clip for {text!r}: run scripts/make_narration.py"
            assert entry["text"] == synthesis.normalise_text(text)
            assert entry.get("pace", "normal") == at_pace, entry["file"]
            assert (NARRATION / entry["file"]).is_file(), f"missing {entry['file']}"
            assert voicing.shipped_clip(text, pace=at_pace) == NARRATION / entry["file"]


def test_an_edited_line_is_not_voiced_by_the_old_clip():
    text = all_lines(DEFAULT_ROUTINE)[1]
    assert voicing.shipped_clip(text) is not None
    assert voicing.shipped_clip(text.replace(".", ", please.")) is None
    assert voicing.shipped_clip("  " + text.replace(" ", "   ") + " ") is not None, "whitespace is normalised"


def test_manifest_keys_are_the_hashes_of_their_texts_and_every_clip_is_used():
    used = {synthesis.text_sha256(t) for name in builtin_names() for t in all_lines(name)}
    used |= {synthesis.clip_key(t, load_routine(name).options.pace) for name in builtin_names() for t in all_lines(name)}
    used |= {synthesis.text_sha256(t) for t in (*CUE_PHRASES, *CHECK_IN_PHRASES.values())}
    for key, entry in MANIFEST.items():
        sha, _, pace = key.partition("@")
        assert synthesis.text_sha256(entry["text"]) == sha, entry["file"]
        assert entry.get("pace", "normal") == (pace or "normal"), entry["file"]
    assert set(MANIFEST) == used, "stale or missing manifest entries: run scripts/make_narration.py"
    assert {p.name for p in NARRATION.glob("*.opus")} == {e["file"] for e in MANIFEST.values()}


@functools.lru_cache(maxsize=1)
def decoded_clips() -> tuple[tuple[dict, np.ndarray, int], ...]:
    """Every shipped clip decoded once (about 80 MB as float64) for the measuring tests below."""
    return tuple((entry, *sf.read(NARRATION / entry["file"], dtype="float64")) for entry in MANIFEST.values())


def test_every_clip_decodes_with_its_manifest_duration_and_loudness():
    levels = []
    for entry, audio, rate in decoded_clips():
        assert audio.ndim == 1 and rate in (22_050, 24_000, 48_000), entry["file"]
        assert abs(len(audio) / rate - entry["duration_s"]) < 0.01, entry["file"]
        loudness = pyloudnorm.Meter(rate).integrated_loudness(audio)
        assert abs(loudness - entry["loudness_lufs"]) < 0.1, entry["file"]
        assert abs(loudness - TARGET_LUFS) <= 1.0, f"{entry['file']}: {loudness:.2f} LUFS (target -20 ± 1 LU)"
        levels.append(loudness)
    assert max(levels) - min(levels) <= 2.0, f"loudness spread {max(levels) - min(levels):.2f} LU"


def test_clips_do_not_clip_and_start_and_end_silently():
    for entry, audio, rate in decoded_clips():
        peak_db = 20 * np.log10(np.max(np.abs(audio)))
        assert peak_db <= -1.0, f"{entry['file']}: peak {peak_db:.1f} dBFS"
        edge = int(0.002 * rate)                       # 2 ms into a 10 ms fade: the gain is still < 0.1
        assert np.max(np.abs(audio[:edge])) < 0.05 and np.max(np.abs(audio[-edge:])) < 0.05, entry["file"]
        assert abs(np.mean(audio)) < 1e-3, f"{entry['file']}: DC offset"


@pytest.mark.parametrize("pace, overall_wpm, sentence_wpm", [("normal", (105, 140), (110, 150)),
                                                              ("slow", (85, 112), (88, 120))])
def test_clips_are_trimmed_and_spoken_at_a_calm_pace(pace, overall_wpm, sentence_wpm):
    entries = [e for e in MANIFEST.values() if e.get("pace", "normal") == pace]
    words = sum(len(e["text"].split()) for e in entries)
    seconds = sum(e["duration_s"] for e in entries)
    assert overall_wpm[0] <= words / seconds * 60 <= overall_wpm[1], f"{words / seconds * 60:.0f} words/min including pauses"
    for entry in entries:                            # one sentence, no pauses: the pace of the speech itself
        words = len(entry["text"].split())
        if words >= 4 and len(synthesis.split_sentences(entry["text"])) == 1:
            wpm = words / entry["duration_s"] * 60
            assert sentence_wpm[0] <= wpm <= sentence_wpm[1], f"{wpm:.0f} words/min: {entry['text']!r}"
    for entry, audio, rate in decoded_clips():
        if entry.get("pace", "normal") != pace:
            continue
        frame = int(0.05 * rate)
        head, tail = np.abs(audio[:frame]).max(), np.abs(audio[-3 * frame:]).max()
        assert max(head, tail) > 10 ** (-50 / 20), f"{entry['file']}: more than 50/150 ms of silence at an edge"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_every_clip_decodes_with_ffmpeg():
    files = sorted(NARRATION / e["file"] for e in MANIFEST.values())
    command = ["ffmpeg", "-v", "error", "-nostdin"]
    for path in files:
        command += ["-i", str(path)]
    for index in range(len(files)):
        command += ["-map", f"{index}:a", "-f", "null", "-"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr[-2000:]


def test_narration_and_audio_folders_stay_small():
    narration_mb = sum(p.stat().st_size for p in NARRATION.parent.rglob("*") if p.is_file()) / 1e6
    audio_mb = sum(p.stat().st_size for p in audio_dir().rglob("*") if p.is_file()) / 1e6
    assert narration_mb < 10, f"audio/narration is {narration_mb:.1f} MB"   # 8.3 MB: 2 voices, wind-down also slow
    assert audio_mb < 40, f"audio/ is {audio_mb:.1f} MB"      # issue 12: audio/ may grow to 40 MB


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_engine_plans_each_builtin_at_its_nominal_length(name):
    session = build_session(load_routine(name), music=["none"], rate_hz=8000)
    try:
        assert abs(session.timeline.total_s - EXPECTED[name] * 60) <= 2.0, session.timeline.total_s
    finally:
        session.close()


def test_quick_reset_renders_to_its_nominal_length_with_the_voice_in_it():
    rate = 8000
    session = build_session(load_routine("quick-reset"), music=["none"], rate_hz=rate)
    out = np.zeros((rate, 2), np.float32)
    frames, loud_seconds = 0, 0
    try:
        while not session.finished:
            written = session.render(out)
            frames += written
            loud_seconds += bool(written) and float(np.sqrt(np.mean(out[:written] ** 2))) > 10 ** (-45 / 20)
    finally:
        session.close()
    assert abs(frames / rate - 300.0) <= 2.0, f"{frames / rate:.1f} s rendered, 300 ± 2 s expected"
    assert loud_seconds >= 100, f"only {loud_seconds} one-second blocks carry the voice (narration is ~110 s)"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_builtin_renders_with_its_music_to_its_nominal_length_and_loudness(name, tmp_path, monkeypatch):
    """The whole engine (built-in music, narration, chimes, limiter) at 16 kHz to keep the suite fast:
    length, sample peak, and BS.1770 loudness (tests/measure.py's streaming meter) within 1 LU of the
    routine's own target (-20 LUFS; wind-down -23)."""
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    rate = 16_000
    routine = load_routine(name)
    session = build_session(routine, rate_hz=rate)
    out = np.zeros((rate * 4, 2), np.float32)
    frames, peak = 0, 0.0
    meter = measure.StreamingLoudness(rate)
    tail = collections.deque(maxlen=20)            # the last ~80 s, in 4 s blocks
    try:
        while not session.finished:
            written = session.render(out)
            frames += written
            peak = max(peak, float(np.abs(out[:written]).max(initial=0.0)))
            meter.add(out[:written])
            tail.append(out[:written].copy())
    finally:
        session.close()
    assert abs(frames / rate - EXPECTED[name] * 60) <= 2.0, f"{name}: {frames / rate:.1f} s rendered"
    assert 10 ** (-30 / 20) < peak <= 10 ** (-1 / 20), f"{name}: sample peak {20 * np.log10(peak):.1f} dBFS"
    loudness = meter.integrated_lufs()
    assert abs(loudness - routine.options.loudness_lufs) <= 1.0, f"{name}: {loudness:.2f} LUFS"
    if name == "wind-down":
        # The last thing heard is the music fading over its last minute: down >= 3 dB in the first half and
        # >= 20 dB in all, never rising more than the music's own swells (up to 3.5 dB from one 5 s frame
        # to the next with the built-in tracks), and ending in silence.
        ending = np.concatenate(list(tail)).mean(axis=1)
        level = measure.frame_rms_db(ending[-60 * rate:], rate, frame_s=5.0)
        assert np.all(np.diff(level) <= 3.5) and level[0] - level[-1] >= 20.0, np.round(level, 1)
        assert level[0] - level[6] >= 3.0, f"the fade has not begun a minute before the end: {np.round(level, 1)}"
        assert np.abs(ending[-rate // 10:]).max() < 10 ** (-60 / 20), "the session ends in silence"


# --- words reviewed against the source material (issue 12, item 3) ----------------------------------------
NECK_CAUTION = ("after neck surgery or injury", "cancer treatment", "check with your care team first")
PRESUMED_RESULT = re.compile(r"\b(loosen\w*|soften\w*|sink\w*|melt\w*|releas\w*|eas\w*|relax\w*|warm\w*|"
                             r"lighter|heav\w*|let(s|ting)? go)\b", re.IGNORECASE)
TENSING = re.compile(r"\b(clench\w*|tens(e|ing)|tighten\w*|shrug\w*|firm(s|ly)?)\b|toward your ears|"
                     r"lift your shoulders", re.IGNORECASE)
ANATOMY = re.compile(r"\b(fascia|connective|tissue|anatomy|nerve\w*|lymph\w*)\b", re.IGNORECASE)
BREATH_WORDS = re.compile(r"\bbreathe (in|out)\b|^and out\b", re.IGNORECASE)


def sentences(name: str) -> list[str]:
    return [s for text in all_lines(name) for s in synthesis.split_sentences(text)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_routine_touching_the_neck_gives_the_care_team_caution_before_the_first_step(name):
    steps = load_routine(name).steps
    assert any("neck" in f"{s.title} {s.do}".lower() for s in steps), f"{name} no longer touches the neck?"
    opening = spoken(steps[0])
    for phrase in NECK_CAUTION:
        assert phrase in opening, f"{name}: the opening lacks {phrase!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_says_once_that_changes_often_take_several_sessions_over_a_few_weeks(name):
    said = [t for t in all_lines(name) if "several sessions" in t.lower() and "few weeks" in t.lower()]
    assert len(said) == 1, f"{name}: said {len(said)} times"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_line_presumes_a_result_and_no_line_asks_a_muscle_to_tense(name):
    for sentence in sentences(name):
        if re.search(r"\bnotice\b", sentence, re.IGNORECASE):
            assert not PRESUMED_RESULT.search(sentence), f"{name}: presumes a result: {sentence!r}"
        assert not TENSING.search(sentence), f"{name}: asks a muscle to tense: {sentence!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_anatomy_before_the_first_instruction(name):
    """The welcome says what this is and how to be safe, then what to do: no lecture on the fascia."""
    steps = load_routine(name).steps
    for text in [line.text for line in steps[0].spoken] + [line.text for line in steps[1].lines[:1]]:
        assert not ANATOMY.search(text), f"{name}: {text!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_breathing_instructions_are_cues_on_the_breath_cycle(name):
    """"Breathe in" is said as the in-breath starts, "breathe out" as the out-breath starts, never in the
    run of lines before a hold, where there is no time to do it."""
    for step in load_routine(name).steps:
        for line in step.lines:
            for sentence in synthesis.split_sentences(line.text):
                assert not BREATH_WORDS.search(sentence), f"{name}/{step.id}: {sentence!r} is not on the breath"
        for cue in step.hold_cues:
            said = BREATH_WORDS.search(cue.line.text)
            if said:
                wanted = "in" if (said.group(1) or "out").lower() == "in" else "out"
                assert cue.on == wanted, f"{name}/{step.id}: {cue.line.text!r} is on {cue.on!r}, not {wanted!r}"


# --- wind-down, for bed (issue 12, item 4) ------------------------------------------------------------------
ARMS_RAISED = ("scalp", "forehead", "temples", "jaw", "skull-base", "neck")
MAX_ARMS_RAISED_S = 90.0


def wind_down_plan():
    routine = load_routine("wind-down")
    scale = fit_hold_scale(routine, voicing.line_durations(routine), routine.options.minutes)
    return routine, plan(routine, voicing.line_durations(routine), rate_hz=1000, hold_scale=scale)


def test_wind_down_is_for_bed_lying_down_and_softer_by_default():
    routine, timeline = wind_down_plan()
    assert routine.options.loudness_lufs == -23.0 and routine.options.chimes == "soft"
    assert routine.options.fade_out_s >= 45.0
    assert "lie down" in spoken(routine.steps[0]) and "sitting" not in " ".join(all_lines("wind-down")).lower()
    assert set(ARMS_RAISED) <= {s.id for s in routine.steps}
    for mark in timeline.steps:
        if mark.id in ARMS_RAISED:
            held = timeline.seconds(mark.hold_end - mark.hold_start)
            assert held <= MAX_ARMS_RAISED_S, f"{mark.id}: arms raised for a {held:.0f} s hold"


def test_wind_down_thins_its_talk_and_says_the_safety_words_before_the_final_rest():
    routine, timeline = wind_down_plan()
    closing = routine.steps[-1]
    for phrase in ("dizzy or lightheaded", "severe pain", "contact your healthcare provider"):
        assert phrase in spoken(closing), phrase
    assert not closing.hold_cues and closing.hold_s >= 180, "a long final rest with nothing said"
    assert "pain" not in closing.lines[-1].text.lower(), "the last words are not about pain"
    # Talk per minute of the steps between the welcome and the closing: the last third says less.
    first, last = timeline.steps[1].start, timeline.steps[-1].start
    third = (last - first) // 3
    talk = [sum(max(0, min(e.end, a + third) - max(e.start, a)) for e in timeline.voice) / third
            for a in (first, first + 2 * third)]
    assert talk[1] < 0.8 * talk[0], f"voice share {talk[0]:.2f} in the first third, {talk[1]:.2f} in the last"
