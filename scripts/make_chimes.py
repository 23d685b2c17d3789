#!/usr/bin/env python3
"""Synthesise companion's soft singing-bowl chimes and write them to ``audio/chimes/``.

    python scripts/make_chimes.py     # audio/chimes/bowl.ogg, bowl-soft.ogg and manifest.json

A bowl is a few inharmonic partials (ratios measured on real singing bowls are near 1 : 2.76 : 5.4 : 8.9).
Each partial is a close pair of sines -- a real bowl is not perfectly round, so every mode splits in two --
which gives the slow beating; the pair is mixed differently into left and right, so the beating moves
gently across the stereo image. A raised-cosine attack (never a strike), exponential decays (the higher
the partial, the faster it fades), and a level set by short-term loudness well under the voice's -20 LUFS.
Deterministic: the seed fixes the partials' starting phases.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from make_music import (AUDIO_DIR, RATE_HZ, decode, encode_opus, integrated_lufs, note_hz, raised_cosine,
                        short_term_max_lufs)

from companion import dsp

CHIMES_DIR = AUDIO_DIR / "chimes"
BITRATE_KBPS = 96


@dataclass(frozen=True)
class Bowl:
    name: str
    title: str
    fundamental: str                                  # note name, e.g. "A3" (A4 = 440 Hz)
    partials: tuple[tuple[float, float, float, float], ...]   # (ratio, amplitude, seconds to -60 dB, beat Hz)
    attack_s: float
    duration_s: float
    short_term_lufs: float                            # loudest 3 s window after normalising
    seed: int


BOWLS = (
    Bowl("bowl", "Singing bowl", "A3",
         ((1.0, 1.0, 7.5, 0.9), (2.76, 0.45, 5.0, 1.6), (5.40, 0.18, 3.2, 2.3), (8.93, 0.06, 2.0, 3.1)),
         attack_s=0.06, duration_s=8.5, short_term_lufs=-28.0, seed=11),
    Bowl("bowl-soft", "Singing bowl, soft (bedtime)", "D3",
         ((1.0, 1.0, 8.0, 0.6), (2.76, 0.28, 4.5, 1.1), (5.40, 0.05, 2.5, 1.7)),
         attack_s=0.12, duration_s=9.0, short_term_lufs=-33.0, seed=12),
)


def synthesise(bowl: Bowl) -> np.ndarray:
    """The bowl as a (frames, 2) float64 array, not yet normalised."""
    rng = np.random.default_rng(bowl.seed)
    t = np.arange(int(bowl.duration_s * RATE_HZ)) / RATE_HZ
    out = np.zeros((len(t), 2))
    base_hz = note_hz(bowl.fundamental)
    for ratio, amplitude, decay_s, beat_hz in bowl.partials:
        centre_hz = base_hz * ratio
        envelope = amplitude * np.exp(-t * np.log(1000.0) / decay_s)     # -60 dB after decay_s
        phases = rng.uniform(0, 2 * np.pi, 2)
        low = np.sin(2 * np.pi * (centre_hz - beat_hz / 2) * t + phases[0])
        high = np.sin(2 * np.pi * (centre_hz + beat_hz / 2) * t + phases[1])
        out[:, 0] += envelope * (0.68 * low + 0.32 * high)
        out[:, 1] += envelope * (0.32 * low + 0.68 * high)
    attack = int(bowl.attack_s * RATE_HZ)
    out[:attack] *= raised_cosine(attack)[:, None]
    release = int(0.5 * RATE_HZ)                         # the tail is already ~-60 dB; end exactly at zero
    out[-release:] *= raised_cosine(release)[::-1, None]
    return out


def measured_attack_s(audio: np.ndarray) -> float:
    """Seconds from the first sound (-60 dB re peak) to 90 % of the peak, on 1 ms peak blocks."""
    block = RATE_HZ // 1000
    frames = len(audio) // block * block
    envelope = np.abs(audio[:frames]).max(axis=1).reshape(-1, block).max(axis=1)
    peak = envelope.max()
    onset = int(np.argmax(envelope > peak * 1e-3))
    reached = int(np.argmax(envelope >= 0.9 * peak))
    return (reached - onset) / 1000.0


def main() -> None:
    manifest = {}
    for bowl in BOWLS:
        audio = synthesise(bowl)
        audio *= 10 ** ((bowl.short_term_lufs - short_term_max_lufs(audio)) / 20)
        path = CHIMES_DIR / f"{bowl.name}.ogg"
        encode_opus(audio, path, bitrate_kbps=BITRATE_KBPS, title=bowl.title)
        shipped = decode(path)
        manifest[path.name] = {
            "title": bowl.title,
            "duration_s": round(len(shipped) / RATE_HZ, 3),
            "fundamental": f"{bowl.fundamental} ({note_hz(bowl.fundamental):.2f} Hz)",
            "short_term_max_lufs": round(short_term_max_lufs(shipped), 2),
            "integrated_lufs": round(integrated_lufs(shipped), 2),
            "peak_db": round(float(20 * np.log10(np.abs(shipped).max())), 2),
            "true_peak_db": round(float(dsp.true_peak_db(shipped)), 2),
            "attack_s": round(measured_attack_s(shipped), 3),
            "seed": bowl.seed,
        }
        print(f"{path.name}: {manifest[path.name]}")
    (CHIMES_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
