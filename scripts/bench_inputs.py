#!/usr/bin/env python3
"""Generated inputs for the render benchmark (scripts/bench_render.py), cached in a work folder.

What it makes, all from seeded numpy noise and sines, so every machine gets the same material:

- ``tracks-wav/trackNN.wav``: 12 five-minute stereo 44.1 kHz 16-bit tracks of soft tonal content (a slow
  chord of sine partials with tremolo and chord changes) over quiet pink-ish noise, about -20 dBFS RMS;
  ``tracks-mp3/trackNN.mp3``: the same, encoded by ffmpeg's libmp3lame at 192 kbit/s.
- ``clips/clipNN.wav``: 60 speech-like narration clips of 4-10 s, mono 16-bit WAV, alternately 24 kHz and
  48 kHz: a voiced buzz (f0 110-190 Hz, harmonics to 3.4 kHz) plus 300-3400 Hz noise, shaped by
  syllables (~4-5 a second) grouped into words and phrases with pauses, active RMS about -20 dBFS.
- ``routine-60.toml``/``routine-10.toml``: companion routines (format: README.md, "Routine files") that speak clip k
  at minute k of a 60- or 10-minute session, as recorded clips, with holds filling the rest of each
  minute; ``set-10-wav/``, ``set-10-mp3/``: the two tracks the 10-minute session uses (hard links).

Re-runs reuse what is there: a file is made only when missing or when ``GENERATOR_VERSION`` changed.
Files are written to a temporary name and renamed, so an interrupted run leaves no half file.

    python scripts/bench_inputs.py --work /tmp/companion-bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

GENERATOR_VERSION = 2
DEFAULT_WORK = Path("/tmp/companion-bench")

TRACK_COUNT = 12
TRACK_S = 300.0
TRACK_RATE_HZ = 44100
CLIP_COUNT = 60
CLIP_MIN_S = 4.0
CLIP_MAX_S = 10.0
CLIP_RATES_HZ = (24000, 48000)
SLOT_S = 60.0               # one clip starts every minute
MP3_BITRATE = "192k"
CROSSFADE_S = 6.0
DUCK_DB = 12.0


@dataclass(frozen=True)
class Clip:
    path: Path
    start_s: float          # nominal start in the session: k * SLOT_S
    duration_s: float
    rate_hz: int


@dataclass(frozen=True)
class SessionSet:
    """One benchmark session: its routine, its music folders and what it contains."""

    minutes: int
    routine: Path
    music_wav: Path         # folder to pass as --music (WAV tracks)
    music_mp3: Path         # the same tracks as MP3
    tracks_wav: tuple[Path, ...]
    tracks_mp3: tuple[Path, ...]
    clips: tuple[Clip, ...]

    @property
    def total_s(self) -> float:
        return self.minutes * 60.0


@dataclass(frozen=True)
class Inputs:
    work: Path
    full: SessionSet        # 60 minutes, 12 tracks, 60 clips
    short: SessionSet       # 10 minutes, 2 tracks, 10 clips (subsets of the above)


# --- signal generators: pure functions of (seed, length, rate) -------------------------------------------


def _shaped_noise(rng: np.random.Generator, frames: int, rate_hz: int, low_hz: float, high_hz: float,
                  tilt: float) -> np.ndarray:
    """White noise shaped in the frequency domain: band-limited to [low_hz, high_hz], power ~ f**-tilt."""
    spectrum = np.fft.rfft(rng.standard_normal(frames))
    freqs_hz = np.fft.rfftfreq(frames, 1.0 / rate_hz)
    weight = np.zeros_like(freqs_hz)
    band = (freqs_hz >= low_hz) & (freqs_hz <= high_hz)
    weight[band] = freqs_hz[band] ** (-tilt / 2.0)
    noise = np.fft.irfft(spectrum * weight, n=frames)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _raised_cosine_edges(signal: np.ndarray, rate_hz: int, fade_s: float) -> None:
    """Fade both ends in place so no generated file starts or ends with a click."""
    n = min(int(fade_s * rate_hz), len(signal) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))
    signal[:n] *= ramp if signal.ndim == 1 else ramp[:, None]
    signal[len(signal) - n:] *= ramp[::-1] if signal.ndim == 1 else ramp[::-1, None]


def music_track(index: int, duration_s: float = TRACK_S, rate_hz: int = TRACK_RATE_HZ) -> np.ndarray:
    """A soft stereo pad: chords of sine partials changing every ~20 s, tremolo, quiet noise. (frames, 2)."""
    rng = np.random.default_rng(1000 + index)
    frames = int(round(duration_s * rate_hz))
    t_s = np.arange(frames) / rate_hz
    root_hz = 110.0 * 2 ** (rng.integers(0, 12) / 12.0)
    chord_s = 20.0
    chords = [(0, 4, 7, 12), (0, 3, 7, 10), (0, 5, 9, 12), (0, 4, 9, 14)]
    out = np.zeros((frames, 2))
    # One partial set per chord slot; slots overlap by a 4-s raised-cosine crossfade.
    slots = int(np.ceil(duration_s / chord_s)) + 1
    for slot in range(slots):
        start_s = slot * chord_s - 2.0
        lo = max(0, int(start_s * rate_hz))
        hi = min(frames, int((start_s + chord_s + 4.0) * rate_hz))
        if hi <= lo:
            continue
        local_s = t_s[lo:hi] - start_s
        env = np.clip(np.minimum(local_s, chord_s + 4.0 - local_s) / 4.0, 0.0, 1.0)
        env = 0.5 - 0.5 * np.cos(np.pi * env)
        intervals = chords[rng.integers(0, len(chords))]
        for n, semis in enumerate(intervals):
            f_hz = root_hz * 2 ** (semis / 12.0) * (1 + 0.002 * rng.standard_normal())
            phase = rng.uniform(0, 2 * np.pi)
            tremolo = 1.0 + 0.25 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t_s[lo:hi] + phase)
            tone = np.sin(2 * np.pi * f_hz * t_s[lo:hi] + phase) * tremolo * env / (1 + n)
            pan = rng.uniform(0.3, 0.7)
            out[lo:hi, 0] += tone * np.sqrt(1 - pan)
            out[lo:hi, 1] += tone * np.sqrt(pan)
    # A ~47-s noise loop (a full-length FFT per channel would dominate the generation time), the right
    # channel read from another offset so the two are uncorrelated.
    loop = _shaped_noise(rng, min(frames, 1 << 21), rate_hz, 40.0, 8000.0, tilt=1.0)
    reps = frames // len(loop) + 2
    tiled = np.tile(loop, reps)
    offset = len(loop) // 2
    out[:, 0] += 0.05 * tiled[:frames]
    out[:, 1] += 0.05 * tiled[offset:offset + frames]
    out *= 0.1 / np.sqrt(np.mean(out**2))             # -20 dBFS RMS
    _raised_cosine_edges(out, rate_hz, 1.0)
    return out.astype(np.float32)


def speech_clip(index: int, duration_s: float, rate_hz: int) -> np.ndarray:
    """Speech-like mono: syllable-modulated voiced buzz + band-limited noise, with word/phrase pauses."""
    rng = np.random.default_rng(5000 + index)
    frames = int(round(duration_s * rate_hz))
    t_s = np.arange(frames) / rate_hz
    envelope = np.zeros(frames)
    cursor_s = 0.05
    end_s = duration_s - 0.15
    while cursor_s < end_s:
        for _word in range(rng.integers(2, 6)):            # a phrase of 2-5 words
            for _syl in range(rng.integers(1, 4)):          # a word of 1-3 syllables
                syl_s = rng.uniform(0.15, 0.28)
                if cursor_s + syl_s > end_s:
                    break
                lo, hi = int(cursor_s * rate_hz), int((cursor_s + syl_s) * rate_hz)
                envelope[lo:hi] = np.sin(np.linspace(0.0, np.pi, hi - lo)) ** 2 * rng.uniform(0.6, 1.0)
                cursor_s += syl_s
            cursor_s += rng.uniform(0.04, 0.12)
        cursor_s += rng.uniform(0.3, 0.6)
    f0_hz = rng.uniform(110.0, 190.0) * (1 + 0.08 * np.sin(2 * np.pi * 0.3 * t_s + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f0_hz) / rate_hz
    voiced = sum(np.sin(k * phase) / k for k in range(1, int(3400 / 190.0) + 1))
    noise = _shaped_noise(rng, frames, rate_hz, 300.0, min(3400.0, rate_hz / 2 - 1), tilt=0.5)
    signal = (0.8 * voiced / np.sqrt(np.mean(voiced**2)) + 0.5 * noise) * envelope
    active = envelope > 0.05
    signal *= 0.1 / np.sqrt(np.mean(signal[active] ** 2))   # -20 dBFS RMS while speaking
    peak = np.max(np.abs(signal))
    if peak > 0.7:
        signal *= 0.7 / peak
    _raised_cosine_edges(signal, rate_hz, 0.01)
    return signal.astype(np.float32)


def clip_plan(count: int = CLIP_COUNT) -> list[tuple[float, int]]:
    """(duration_s, rate_hz) per clip; durations are whole frames so holds add up exactly."""
    rng = np.random.default_rng(42)
    plan = []
    for k in range(count):
        rate_hz = CLIP_RATES_HZ[k % 2]
        frames = int(round(rng.uniform(CLIP_MIN_S, CLIP_MAX_S) * rate_hz))
        plan.append((frames / rate_hz, rate_hz))
    return plan


# --- files ------------------------------------------------------------------------------------------------


def _write_wav(path: Path, signal: np.ndarray, rate_hz: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(tmp, signal, rate_hz, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def _encode_mp3(wav: Path, mp3: Path) -> None:
    tmp = mp3.with_name(f".{mp3.stem}.tmp.mp3")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame",
                    "-b:a", MP3_BITRATE, str(tmp)], check=True)
    os.replace(tmp, mp3)


def _link(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _routine_toml(name: str, minutes: int, clips: list[Clip], music_rel: str) -> str:
    """A routine speaking clip k at minute k: hold = SLOT_S - clip length, no gaps, no chimes."""
    lines = [
        f'name = "{name}"',
        f'description = "Benchmark: {minutes} minutes, one recorded clip a minute over generated music."',
        "",
        "[session]",
        f'music = ["{music_rel}"]',
        f"minutes = {minutes}",
        f"duck_db = {DUCK_DB:g}",
        f"crossfade_s = {CROSSFADE_S:g}",
        "line_gap_s = 0",
        "chimes = false",
    ]
    for k, clip in enumerate(clips):
        rel = clip.path.relative_to(clip.path.parent.parent).as_posix()
        lines += [
            "",
            "[[steps]]",
            f'id = "minute-{k + 1:02d}"',
            f'title = "Minute {k + 1}"',
            f'lines = [{{ text = "Benchmark narration {k + 1}.", clip = "{rel}" }}]',
            f"hold = {SLOT_S - clip.duration_s:.6f}",
        ]
    return "\n".join(lines) + "\n"


def prepare(work: Path = DEFAULT_WORK, *, log=print) -> Inputs:
    """Make (or reuse) every input in ``work``; returns where everything is."""
    work = Path(work)
    stamp_path = work / "inputs.json"
    stamp = {"generator_version": GENERATOR_VERSION, "tracks": TRACK_COUNT, "track_s": TRACK_S,
             "clips": CLIP_COUNT, "mp3_bitrate": MP3_BITRATE}
    fresh = not stamp_path.exists() or json.loads(stamp_path.read_text()) != stamp
    if fresh and work.exists():
        for sub in ("tracks-wav", "tracks-mp3", "clips", "set-10-wav", "set-10-mp3"):
            shutil.rmtree(work / sub, ignore_errors=True)
    for sub in ("tracks-wav", "tracks-mp3", "clips", "set-10-wav", "set-10-mp3"):
        (work / sub).mkdir(parents=True, exist_ok=True)

    tracks_wav = [work / "tracks-wav" / f"track{i + 1:02d}.wav" for i in range(TRACK_COUNT)]
    tracks_mp3 = [work / "tracks-mp3" / f"track{i + 1:02d}.mp3" for i in range(TRACK_COUNT)]
    missing = [i for i, p in enumerate(tracks_wav) if not p.exists()]
    if missing:
        log(f"generating {len(missing)} music tracks ({TRACK_S:g} s, {TRACK_RATE_HZ} Hz stereo) ...")
    for i in missing:
        _write_wav(tracks_wav[i], music_track(i), TRACK_RATE_HZ)
    todo = [i for i, p in enumerate(tracks_mp3) if not p.exists()]
    if todo:
        log(f"encoding {len(todo)} tracks to MP3 {MP3_BITRATE} ...")
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(lambda i: _encode_mp3(tracks_wav[i], tracks_mp3[i]), todo))

    clips = []
    made = 0
    for k, (duration_s, rate_hz) in enumerate(clip_plan()):
        path = work / "clips" / f"clip{k + 1:02d}.wav"
        if not path.exists():
            _write_wav(path, speech_clip(k, duration_s, rate_hz), rate_hz)
            made += 1
        clips.append(Clip(path, k * SLOT_S, duration_s, rate_hz))
    if made:
        log(f"generated {made} narration clips")

    for i in range(2):
        _link(tracks_wav[i], work / "set-10-wav" / tracks_wav[i].name)
        _link(tracks_mp3[i], work / "set-10-mp3" / tracks_mp3[i].name)

    sets = {}
    for minutes, music_wav, music_mp3, n_tracks in ((60, "tracks-wav", "tracks-mp3", TRACK_COUNT),
                                                     (10, "set-10-wav", "set-10-mp3", 2)):
        routine = work / f"routine-{minutes}.toml"
        text = _routine_toml(f"Benchmark {minutes} min", minutes, clips[:minutes], music_wav)
        if not routine.exists() or routine.read_text() != text:
            routine.write_text(text)
        sets[minutes] = SessionSet(
            minutes=minutes, routine=routine, music_wav=work / music_wav, music_mp3=work / music_mp3,
            tracks_wav=tuple(sorted((work / music_wav).glob("*.wav"))),
            tracks_mp3=tuple(sorted((work / music_mp3).glob("*.mp3"))),
            clips=tuple(clips[:minutes]))
        assert len(sets[minutes].tracks_wav) == n_tracks == len(sets[minutes].tracks_mp3)
    stamp_path.write_text(json.dumps(stamp, indent=1))
    return Inputs(work=work, full=sets[60], short=sets[10])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="cache folder (default: %(default)s)")
    args = parser.parse_args(argv)
    inputs = prepare(args.work)
    print(f"inputs ready in {inputs.work}: routines {inputs.full.routine.name}, {inputs.short.routine.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
