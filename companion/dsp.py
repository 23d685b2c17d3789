"""Pure array functions: gains, ramps, loudness, true peak, resampling.

Every function takes arrays and numbers and returns arrays or numbers; nothing here keeps state, prints or
touches files. Signals are float32 ``(frames, channels)`` unless a docstring says otherwise.
"""

from __future__ import annotations

import numpy as np
import soxr
from scipy import signal as _signal

SILENCE_DB = -120.0


def db_to_gain(db: float | np.ndarray) -> float | np.ndarray:
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 20.0) if isinstance(db, np.ndarray) else 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    return 20.0 * np.log10(gain) if gain > 0 else SILENCE_DB


def raised_cosine(position: np.ndarray) -> np.ndarray:
    """0 → 1 along a raised cosine; ``position`` is the ramp phase, clipped to [0, 1]."""
    p = np.clip(position, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * p)


def equal_power_in(position: np.ndarray) -> np.ndarray:
    """Fade-in gain whose square plus ``equal_power_out``'s square is 1: constant power for uncorrelated signals."""
    return np.sin(0.5 * np.pi * np.clip(position, 0.0, 1.0))


def equal_power_out(position: np.ndarray) -> np.ndarray:
    return np.cos(0.5 * np.pi * np.clip(position, 0.0, 1.0))


def to_stereo(samples: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, n) → float32 (frames, 2): mono is duplicated, more channels are averaged to 2."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] == 2:
        return np.ascontiguousarray(x)
    if x.shape[1] == 1:
        return np.repeat(x, 2, axis=1)
    left = x[:, 0::2].mean(axis=1)
    right = x[:, 1::2].mean(axis=1)
    return np.stack([left, right], axis=1).astype(np.float32)


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Resample with soxr (high quality); returns float32 with the same channel layout."""
    if from_hz == to_hz:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), from_hz, to_hz, quality="HQ").astype(np.float32)


def edge_fades(samples: np.ndarray, rate_hz: int, fade_s: float = 0.01) -> np.ndarray:
    """A copy with short raised-cosine fades at both ends, so a clip never starts or stops with a click."""
    x = np.array(samples, dtype=np.float32, copy=True)
    n = min(int(round(fade_s * rate_hz)), len(x) // 2)
    if n > 0:
        ramp = raised_cosine((np.arange(n) + 0.5) / n).astype(np.float32)
        shape = (n,) + (1,) * (x.ndim - 1)
        x[:n] *= ramp.reshape(shape)
        x[-n:] *= ramp[::-1].reshape(shape)
    return x


# --- Loudness (ITU-R BS.1770-4 / EBU R128) ------------------------------------------------------------

def k_weighting_sos(rate_hz: int) -> np.ndarray:
    """The two K-weighting biquads (high shelf + high pass) designed for ``rate_hz``.

    Coefficients follow BS.1770 Annex 1, re-derived for any rate from the analogue prototypes (the same
    derivation pyloudnorm and libebur128 use).
    """
    # Stage 1: high shelf, +4 dB above ~1.68 kHz.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / rate_hz)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    # Stage 2: RLB high pass at ~38 Hz.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / rate_hz)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def block_powers(samples: np.ndarray, rate_hz: int, block_s: float = 0.4, hop_s: float = 0.1) -> np.ndarray:
    """Mean-square K-weighted power (summed over channels) of overlapping blocks (400 ms, 75 % overlap)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    weighted = _signal.sosfilt(k_weighting_sos(rate_hz), x, axis=0)
    hop = int(round(hop_s * rate_hz))
    per_hop = int(round(block_s / hop_s))
    hops = len(weighted) // hop
    if hops < per_hop:
        return np.zeros(0)
    energy = (weighted[: hops * hop] ** 2).reshape(hops, hop, -1).sum(axis=(1, 2))
    window = np.convolve(energy, np.ones(per_hop), mode="valid")
    return window / (per_hop * hop)


def gated_loudness(powers: np.ndarray) -> float:
    """Integrated loudness (LUFS) from block powers: absolute gate −70 LUFS, relative gate −10 LU."""
    if len(powers) == 0:
        return SILENCE_DB
    with np.errstate(divide="ignore"):
        lufs = -0.691 + 10.0 * np.log10(powers)
    kept = powers[lufs > -70.0]
    if len(kept) == 0:
        return SILENCE_DB
    relative = -0.691 + 10.0 * np.log10(kept.mean()) - 10.0
    kept = powers[lufs > max(relative, -70.0)]
    return float(-0.691 + 10.0 * np.log10(kept.mean())) if len(kept) else SILENCE_DB


def integrated_loudness(samples: np.ndarray, rate_hz: int) -> float:
    """Integrated loudness of a whole (short) signal in LUFS; signals under 400 ms use one block."""
    x = np.asarray(samples)
    powers = block_powers(x, rate_hz)
    if len(powers) == 0 and len(x):
        padded = np.zeros((int(0.4 * rate_hz),) + x.shape[1:], dtype=np.float64)
        padded[: len(x)] = x
        powers = block_powers(padded, rate_hz)
    return gated_loudness(powers)


def short_term_loudness(samples: np.ndarray, rate_hz: int, window_s: float = 3.0, hop_s: float = 0.1) -> np.ndarray:
    """Short-term loudness (3 s windows, EBU R128) every ``hop_s``, in LUFS."""
    powers = block_powers(samples, rate_hz, block_s=window_s, hop_s=hop_s)
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(np.maximum(powers, 1e-20))


def true_peak_db(samples: np.ndarray, oversample: int = 4) -> float:
    """Peak level after ``oversample``× polyphase interpolation (BS.1770 true-peak style), in dBFS."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return SILENCE_DB
    up = _signal.resample_poly(x, oversample, 1, axis=0)
    peak = float(np.max(np.abs(up)))
    return 20.0 * np.log10(peak) if peak > 0 else SILENCE_DB


def rms_db(samples: np.ndarray) -> float:
    x = np.asarray(samples, dtype=np.float64)
    value = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    return 20.0 * np.log10(value) if value > 0 else SILENCE_DB
