#!/usr/bin/env python3
"""Measure the built-in routines as a listener meets them (issue 12's Measures), from rendered audio,
in every narration voice (the voices' clips differ in length and pauses, so each voice is measured).

Each routine is rendered twice per voice at 16 kHz with the same seed: the whole mix, and the voice alone (music
"none", same levels); the music is their difference. Figures per routine:
- hold time with no voice (share) and the longest silent stretch in the session (voice runs found in the
  voice render; the lead-in before the first word and the fade-out after the last are left out, and so
  is the final rest of wind-down, its last step);
- gaps between sentences (voice pauses 0.5..3 s; shorter ones are pauses within a sentence) and movement pauses (3..15 s): count and percentiles;
- breathing cues against the music's swell: the swell's phase is fitted to the music render of each paced
  hold (``tests/measure.py: breath_phase_s``), the cue's first word is found in the voice render;
- voice over the ducked music in 400 ms windows while speaking (K-weighted, pyloudnorm's filters): the
  share of windows at 15 dB or more, and the 5th percentile;
- integrated loudness (pyloudnorm) and true peak (4x oversampled, scipy) of the mix;
- speech rate: words spoken per minute of voice runs (pauses between sentences left out), so wind-down's
  slow pace shows against the daytime routines.

Usage: python scripts/measure_content.py [--steady-music] [--voice NAME] [ROUTINE ...]
(default: every built-in routine, in every voice)
``--steady-music`` plays steady noise instead of the built-in music: the breathing swell (3.5 dB) can then
be told from the music's own swells, so the cue timing figure is meaningful only with it.
Tolerances: the invariants are held by tests/test_routine_pacing.py; this prints the figures.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyloudnorm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from companion.mix.assemble import build_session  # noqa: E402
from companion.narration.voices import VOICES  # noqa: E402
from companion.plan.routine import Routine, builtin_names, load_routine  # noqa: E402
from tests import measure  # noqa: E402
from tests.sessionkit import render_all  # noqa: E402

RATE_HZ = 16_000


def renders(routine: Routine, music: list[str] | None, voice_name: str) -> tuple[np.ndarray, np.ndarray, object]:
    """(stereo mix, mono voice alone, timeline): chimes off in both, so the difference is the music only."""
    quiet = replace(routine, options=replace(routine.options, chimes=False))
    mix_session = build_session(quiet, music=music or [], rate_hz=RATE_HZ, voice=voice_name)
    timeline = mix_session.timeline
    mix = render_all(mix_session, RATE_HZ)
    voice = render_all(build_session(quiet, music=["none"], rate_hz=RATE_HZ, voice=voice_name), RATE_HZ).mean(axis=1)
    return mix, voice, timeline


def true_peak_db(stereo: np.ndarray, chunk_s: float = 30.0) -> float:
    """tests/measure.py's true peak, chunk by chunk (a whole session oversampled would need GBs)."""
    n = int(chunk_s * RATE_HZ)
    return max(measure.true_peak_db(stereo[i: i + n + 64]) for i in range(0, len(stereo), n))


def silences(runs: list[tuple[float, float]], timeline, routine: Routine) -> tuple[float, float, float]:
    """(share of hold time with no voice, longest silent stretch s, where it starts s)."""
    seconds = timeline.seconds
    final_rest = routine.builtin == "wind-down"
    holds = [(seconds(m.hold_start), seconds(m.hold_end)) for m in timeline.steps
             if m.hold_end > m.hold_start and not (final_rest and m.index == len(routine.steps) - 1)]
    covered = 0.0
    for a, b in holds:
        covered += sum(max(0.0, min(b, y) - max(a, x)) for x, y in runs)
    total = sum(b - a for a, b in holds)
    last = seconds(timeline.steps[-1].hold_start) if final_rest else runs[-1][1]
    gaps = [(b[0] - a[1], a[1]) for a, b in zip(runs, runs[1:]) if a[1] < last]
    longest = max(gaps, default=(0.0, 0.0))
    return 1.0 - covered / total if total else 0.0, longest[0], longest[1]


def breath_offsets(mix: np.ndarray, voice: np.ndarray, timeline, routine: Routine,
                   runs: list[tuple[float, float]]) -> list[float]:
    """Seconds from each breathing cue's first word to the start of its half of the swell."""
    offsets = []
    music = mix - voice[: len(mix)]
    exclude = [(a - 1.0, b + 2.0) for a, b in runs]
    for mark in timeline.steps:
        step = routine.steps[mark.index]
        if step.breath is None or not any(cue.on for cue in step.hold_cues):
            continue
        start, end = timeline.seconds(mark.hold_start), timeline.seconds(mark.hold_end)
        swell = measure.breath_phase_s(music, RATE_HZ, start, end, step.breath.in_s, step.breath.out_s, exclude)
        cycle = step.breath.in_s + step.breath.out_s
        for event in timeline.voice:
            cue_index = event.line - len(step.lines)
            if event.step != mark.index or cue_index < 0 or step.hold_cues[cue_index].on is None:
                continue
            planned = timeline.seconds(event.start)
            onset = min((a for a, _ in runs if a >= planned - 0.3), default=planned)
            target = swell + (0.0 if step.hold_cues[cue_index].on == "in" else step.breath.in_s)
            offsets.append(float((onset - target + cycle / 2) % cycle - cycle / 2))
    return offsets


def report(name: str, music: list[str] | None, voice_name: str) -> None:
    routine = load_routine(name)
    stereo, voice, timeline = renders(routine, music, voice_name)
    mix = stereo.mean(axis=1)
    runs = measure.speech_runs(voice, RATE_HZ)
    silent_share, longest_s, longest_at = silences(runs, timeline, routine)
    pauses = [b[0] - a[1] for a, b in zip(runs, runs[1:])]
    sentence = np.array([p for p in pauses if p <= 3.0])
    movement = np.array([p for p in pauses if 3.0 < p <= 15.0])
    ratio = measure.voice_over_music_db(mix, voice, RATE_HZ)
    loudness = pyloudnorm.Meter(RATE_HZ).integrated_loudness(stereo.astype(np.float64))
    peak = true_peak_db(stereo)
    offsets = breath_offsets(mix, voice, timeline, routine, runs) if music else []
    print(f"{name} ({voice_name}): {len(mix) / RATE_HZ / 60:.1f} min, {loudness:.1f} LUFS, true peak {peak:.1f} dBTP")
    print(f"  holds: {100 * silent_share:.0f}% without voice; longest silent stretch {longest_s:.1f} s "
          f"(from {longest_at / 60:.0f}:{longest_at % 60:04.1f})")
    if len(sentence):
        p = np.percentile(sentence, [5, 25, 50, 75, 95])
        print(f"  sentence gaps: {len(sentence)}, p5/p25/p50/p75/p95 = " + " / ".join(f"{v:.2f}" for v in p) + " s")
    if len(movement):
        print(f"  movement pauses: {len(movement)}, {movement.min():.1f} .. {movement.max():.1f} s")
    if offsets:
        print(f"  breathing cues: {len(offsets)}, cue start - swell phase: max |{np.abs(offsets).max():.2f}| s, "
              f"mean {np.mean(offsets):+.2f} s")
    elif not music:
        print("  breathing cues: run with --steady-music (the swell is fitted on a steady bed, not on the built-in music)")
    words = sum(len((routine.steps[e.step].spoken[e.line].text or "").split()) for e in timeline.voice)
    print(f"  speech: {words} words, {60 * words / sum(b - a for a, b in runs):.0f} per minute of voice runs "
          f"(pace {routine.options.pace})")
    print(f"  voice over ducked music (400 ms, speaking): {100 * np.mean(ratio >= 15.0):.1f}% of "
          f"{len(ratio)} windows >= 15 dB; p5 {np.percentile(ratio, 5):.1f} dB, median {np.median(ratio):.1f} dB")


def steady_music(folder: Path) -> str:
    """A minute of steady stereo noise (-26 dBFS RMS) as a music file, looped by the engine."""
    import soundfile as sf

    path = folder / "steady-noise.wav"
    rng = np.random.default_rng(1)
    sf.write(path, (0.05 * rng.standard_normal((60 * 48_000, 2))).astype(np.float32), 48_000)
    return str(path)


def main() -> int:
    import tempfile

    import argparse

    parser = argparse.ArgumentParser(description="Measure the built-in routines from rendered audio.")
    parser.add_argument("--steady-music", action="store_true", help="steady noise instead of the built-in music")
    parser.add_argument("--voice", choices=sorted(VOICES), action="append",
                        help="a narration voice (repeatable; default: every voice)")
    parser.add_argument("routines", nargs="*", metavar="ROUTINE", help="built-in routine names (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        music = [steady_music(Path(folder))] if args.steady_music else None
        for name in args.routines or builtin_names():
            for voice_name in args.voice or sorted(VOICES):
                report(name, music, voice_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
