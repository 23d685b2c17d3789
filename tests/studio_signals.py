"""Signals for the studio tests: a known spoken line (espeak-ng), wrapped in room tone and low rumble, and
independent measurements of where that speech sits in a cleaned clip (cross-correlation, scipy) and of a
frequency band's level (Welch's method). Nothing here uses companion's own DSP."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal as ss

RATE_HZ = 48_000
LINE = "Rest your hands on your belly and breathe slowly."
RUMBLE_HZ = 35.0


@lru_cache(maxsize=4)
def spoken(text: str = LINE, peak: float = 0.3) -> np.ndarray:
    """``text`` spoken by espeak-ng, resampled to 48 kHz, digital silence trimmed, peak ``peak``."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/install-system.sh --test)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "line.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(out), text], check=True)
        voice, rate = sf.read(out, dtype="float64")
    voice = ss.resample_poly(voice, RATE_HZ, rate)
    sounding = np.flatnonzero(np.abs(voice) > 1e-3)
    voice = voice[sounding[0]: sounding[-1] + 1]
    return (voice * peak / np.abs(voice).max()).astype(np.float32)


def take(speech: np.ndarray, *, lead_s: float = 1.0, tail_s: float = 1.2, rumble: float = 0.1,
         noise: float = 0.0005, seed: int = 1) -> np.ndarray:
    """``speech`` after ``lead_s`` of room tone and before ``tail_s``, over a RUMBLE_HZ hum of amplitude
    ``rumble`` and white noise of RMS ``noise`` (a quiet room)."""
    frames = len(speech) + int((lead_s + tail_s) * RATE_HZ)
    t = np.arange(frames) / RATE_HZ
    out = rumble * np.sin(2 * np.pi * RUMBLE_HZ * t) + np.random.default_rng(seed).normal(0, noise, frames)
    start = int(lead_s * RATE_HZ)
    out[start: start + len(speech)] += speech
    return out.astype(np.float32)


def speech_offset_s(clip: np.ndarray, speech: np.ndarray, rate_hz: int = RATE_HZ) -> float:
    """Where ``speech`` starts inside ``clip`` (seconds), by the peak of their cross-correlation."""
    if rate_hz != RATE_HZ:
        clip = ss.resample_poly(clip, RATE_HZ, rate_hz)
    corr = ss.correlate(clip.astype(np.float64), speech.astype(np.float64), mode="full", method="fft")
    return (int(np.argmax(np.abs(corr))) - (len(speech) - 1)) / RATE_HZ


def band_db(x: np.ndarray, rate_hz: int, low_hz: float, high_hz: float) -> float:
    """Power in [low_hz, high_hz] (Welch, 1 Hz resolution scale), dB."""
    freqs, power = ss.welch(x.astype(np.float64), fs=rate_hz, nperseg=min(len(x), rate_hz))
    band = (freqs >= low_hz) & (freqs <= high_hz)
    return float(10 * np.log10(np.sum(power[band]) + 1e-30))


def true_peak_db(x: np.ndarray) -> float:
    """True peak by 4x oversampling with scipy's polyphase resampler, dBFS."""
    up = ss.resample_poly(x.astype(np.float64), 4, 1)
    return float(20 * np.log10(max(np.abs(up).max(), np.abs(x).max(), 1e-12)))


def heard_as(heard: np.ndarray, clip: np.ndarray) -> tuple[float, float]:
    """Where ``clip`` is found in ``heard`` (cross-correlation): the residual after the best gain, relative
    to the clip (dB; -inf when bit-exact), and that gain (dB)."""
    heard, clip = np.asarray(heard, np.float64), np.asarray(clip, np.float64)
    corr = ss.correlate(heard, clip, mode="valid", method="fft")
    at = int(np.argmax(np.abs(corr)))
    segment = heard[at: at + len(clip)]
    gain = float(np.dot(segment, clip) / np.dot(clip, clip))
    residual = float(np.sum((segment - gain * clip) ** 2) / np.sum((gain * clip) ** 2))
    return 10 * np.log10(max(residual, 1e-30)), 20 * np.log10(max(abs(gain), 1e-30))
