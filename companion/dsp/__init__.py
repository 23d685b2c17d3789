"""Pure array functions: gains, ramps, true peak, resampling; the look-ahead limiter (``limiter``) and the
last-line guard that turns a NaN/inf block into silence (``guard``).

Loudness (the BS.1770 meter, file analysis, levelling) is ``companion.media.loudness``.

Every function takes arrays and numbers and returns arrays or numbers; nothing here keeps state, prints or
touches files. Signals are float32 ``(frames, channels)`` unless a docstring says otherwise.
"""

from __future__ import annotations

import numpy as np

SILENCE_DB = -120.0


def db_to_gain(db: float | np.ndarray) -> float | np.ndarray:
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 20.0) if isinstance(db, np.ndarray) else 10.0 ** (db / 20.0)


def raised_cosine(position: np.ndarray) -> np.ndarray:
    """0 → 1 along a raised cosine; ``position`` is the ramp phase, clipped to [0, 1]."""
    p = np.clip(position, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * p)


def scale_frames(x: np.ndarray, gain: float | np.ndarray) -> np.ndarray:
    """``x *= gain`` in place and return ``x``: ``gain`` is a scalar or one value per frame of ``x``.

    A per-frame gain is applied one channel at a time: broadcasting an ``(n,)`` gain over ``(n, 2)`` frames
    runs numpy's inner loop two elements long, which is 3-4x slower. (A scalar is told apart by type, not by
    ``np.ndim``, which raises and catches an AttributeError and builds an array for a Python float: 4 us a
    call, three calls a block in the audio callback.)
    """
    if not isinstance(gain, np.ndarray) or gain.ndim == 0:
        if gain != 1.0:
            x *= np.float32(gain)
        return x
    g = np.asarray(gain, dtype=np.float32)
    if x.ndim == 1:
        x *= g
        return x
    for channel in range(x.shape[1]):
        column = x[:, channel]
        np.multiply(column, g, out=column)
    return x


def control_curve(values: np.ndarray, step: int, offset: int, frames: int) -> np.ndarray:
    """Linear interpolation between ``values`` given every ``step`` frames, for ``frames`` frames from
    ``offset`` frames after the first value (float32). The same as ``np.interp`` on that grid, built as
    one outer product instead of a search per frame (~10x faster)."""
    v = np.asarray(values, dtype=np.float32)
    fraction = np.arange(step, dtype=np.float32) / np.float32(step)
    curve = (v[:-1, None] + (v[1:] - v[:-1])[:, None] * fraction).ravel()
    return curve[offset: offset + frames]


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
        out = np.empty((len(x), 2), np.float32)
        out[:, 0] = out[:, 1] = x[:, 0]   # (np.repeat along an axis of 1 is ~5x slower)
        return out
    left = x[:, 0::2].mean(axis=1)
    right = x[:, 1::2].mean(axis=1)
    return np.stack([left, right], axis=1).astype(np.float32)


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Resample with soxr (high quality); returns float32 with the same channel layout."""
    if from_hz == to_hz:
        return np.asarray(samples, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(samples, dtype=np.float32), from_hz, to_hz, quality="HQ").astype(np.float32)


def edge_fades(samples: np.ndarray, rate_hz: int, fade_s: float = 0.01, *, in_place: bool = False) -> np.ndarray:
    """A copy (or, ``in_place``, ``samples`` itself: float32 only) with short raised-cosine fades at both
    ends, so a clip never starts or stops with a click."""
    x = samples if in_place else np.array(samples, dtype=np.float32, copy=True)
    n = min(int(round(fade_s * rate_hz)), len(x) // 2)
    if n > 0:
        ramp = raised_cosine((np.arange(n) + 0.5) / n).astype(np.float32)
        shape = (n,) + (1,) * (x.ndim - 1)
        x[:n] *= ramp.reshape(shape)
        x[-n:] *= ramp[::-1].reshape(shape)
    return x


# BS.1770-4 Annex 2: the 48-tap, 4-phase interpolation filter (12 taps per phase) for true-peak meters.
TRUE_PEAK_PHASES = np.array([
    [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625,
     0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
    [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250,
     0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
    [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000, -0.2003173828125, 0.7797851562500,
     0.4650878906250, -0.1665039062500, 0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875],
    [-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750, -0.1022949218750, 0.9721679687500,
     0.1373291015625, -0.0594482421875, 0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750],
])


def true_peak_db(samples: np.ndarray) -> float:
    """True peak (BS.1770 Annex 2: 4x oversampling with its 48-tap interpolator), in dBFS."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return SILENCE_DB
    if x.ndim == 1:
        x = x[:, None]
    peak = float(np.abs(x).max())
    for phase in TRUE_PEAK_PHASES:
        for channel in x.T:
            peak = max(peak, float(np.abs(np.convolve(channel, phase, mode="full")).max()))
    return 20.0 * np.log10(peak) if peak > 0 else SILENCE_DB


def sliding_min(values: np.ndarray, half: int) -> np.ndarray:
    """``out[i] = min(values[i - half .. i + half])`` (edges repeat the end values)."""
    return _sliding(values, half, np.minimum)


def sliding_max(values: np.ndarray, half: int) -> np.ndarray:
    """``out[i] = max(values[i - half .. i + half])`` (edges repeat the end values)."""
    return _sliding(values, half, np.maximum)


def _sliding(values: np.ndarray, half: int, op: np.ufunc) -> np.ndarray:
    """A sliding extremum by doubling: after k passes, ``m[i]`` covers ``2^k`` values from i; one more
    pass with an overlapping shift covers the whole window. O(n log w), every pass a contiguous ufunc
    (faster than van Herk's reshape-and-accumulate, whose inner loops are only a window long)."""
    width = 2 * half + 1
    n = len(values)
    m = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    span = 1
    while span * 2 <= width:
        m = op(m[:-span], m[span:])
        span *= 2
    rest = width - span
    if rest:
        m = op(m[: len(m) - rest], m[rest:])
    return m[:n]


def rms_db(samples: np.ndarray) -> float:
    x = np.asarray(samples, dtype=np.float64)
    value = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    return 20.0 * np.log10(value) if value > 0 else SILENCE_DB
