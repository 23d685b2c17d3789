"""The master limiter: look-ahead, true-peak aware, smooth, and block-size invariant.

Design (all decisions are functions of the sample sequence, so any block size gives the same output):

1. Detection. For each frame, the peak over channels of the signal *and* of the three points between it and
   the next frame, interpolated with BS.1770's 4x polyphase filter (so inter-sample peaks count). The
   interpolation is only computed for stretches that come within 3 dB of the ceiling; below that, true
   peak cannot reach the ceiling for band-limited audio, and the sample peak is used.
2. Required gain ``r[n] = min(1, ceiling / peak[n])``.
3. ``m[n] = min(r[n - A .. n + B])`` then ``g[n] = mean(m[n - B .. n + A])``. With A = B this guarantees
   ``g[n] <= r[n]`` everywhere (every averaged minimum covers n) while the gain moves in straight ramps
   of ``A + B`` frames (20 ms): no clicks, no overshoot.
4. The audio is delayed by the look-ahead (``latency`` frames) so that the gain can start to fall before
   a peak arrives. The session compensates by running the mixer that far ahead.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from companion import CHANNELS, dsp

_TP_PHASES = dsp.TRUE_PEAK_PHASES
_TP_GAIN = float(np.abs(dsp.TRUE_PEAK_PHASES).sum(axis=1).max())  # the most a phase can amplify (2.02)
_TP_TAPS = _TP_PHASES.shape[1]
_TP_CENTER = 6           # output of the filters is aligned to input frame (n - _TP_CENTER) ... (n - 5)


class Limiter:
    """Keeps the true peak at or below ``ceiling_db`` (default −1.5 dBFS: a margin under −1 dBFS for the
    difference between the 12-tap detector and a finer interpolation)."""

    def __init__(self, rate_hz: int, *, ceiling_db: float = -1.5, ramp_s: float = 0.02) -> None:
        self.ceiling = 10.0 ** (ceiling_db / 20.0)
        half = max(1, int(round(ramp_s * rate_hz / 2)))
        self._a = self._b = half
        # Detection needs _TP_TAPS frames of context; the gain stage needs A + B frames of look-ahead.
        self.latency = self._a + self._b + _TP_TAPS
        self._history = np.zeros((self.latency + _TP_TAPS, CHANNELS), np.float32)  # last input frames
        self._required = np.ones(2 * (self._a + self._b), np.float64)              # r[] tail
        self._check_level = self.ceiling * 10.0 ** (-3.0 / 20.0)
        self._quiet = len(self._history) + len(self._required)  # trailing input frames under check level
        self.quiet = False      # the last block was quiet: its output is its input delayed, all finite

    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Limit one block; returns the same number of frames, delayed by ``latency`` (written into
        ``out`` when given: an array of the block's shape that is not the block)."""
        n = len(block)
        if n == 0:
            return block
        out = np.empty_like(block) if out is None else out
        hist = len(self._history)
        settled = len(self._required) + 2 * _TP_TAPS
        quiet = self._quiet >= settled and max(float(block.max()), -float(block.min())) <= self._check_level
        # (NaN fails the comparison; quiet means this block and the whole history are finite and low)
        self.quiet = quiet
        if quiet and n >= hist:
            # Quiet for longer than the look-ahead and detection reach: the gain is exactly 1, and the
            # output is the input delayed (assembled directly, without joining history and block).
            self._quiet += n
            out[: self.latency] = self._history[hist - self.latency:]
            out[self.latency:] = block[: n - self.latency]
            self._history = block[n - hist:].copy()
            return out
        joined = np.concatenate([self._history, block])          # frames: [-H, n)
        delayed = joined[hist - self.latency: hist - self.latency + n]
        self._history = joined[-hist:]
        np.copyto(out, delayed)
        if quiet:
            self._quiet += n
            return out
        # Required gain for frames [-T, n - T) where T = _TP_TAPS (they have full interpolation context).
        peak = np.maximum(np.abs(joined[:, 0]), np.abs(joined[:, 1]))  # (an axis of 2 reduces slowly)
        loud = np.flatnonzero(~(peak[hist:] <= self._check_level))     # NaN counts as loud: never "quiet"
        self._quiet = self._quiet + n if not len(loud) else n - 1 - int(loud[-1])
        detect = peak[hist - _TP_TAPS: hist + n - _TP_TAPS]
        if peak[hist - _TP_TAPS:].max() > self._check_level:
            detect = np.maximum(detect, self._inter_sample_peaks(joined, peak, hist, n))
        required = np.minimum(1.0, self.ceiling / np.maximum(detect, 1e-12))
        r = np.concatenate([self._required, required])           # r for frames [-T - R, n - T)
        self._required = r[-len(self._required):]
        a, b = self._a, self._b
        if r.min() >= 1.0:
            return out
        m = dsp.sliding_min(r, a)  # a == b: the window [n - a, n + b] is centred
        # Moving average over [i - b, i + a] by cumulative sums (O(n), exact enough in float64).
        width = a + b + 1
        sums = np.concatenate([[0.0], np.cumsum(m)])
        first = len(r) - n - (a + b)                               # gain index of the first output frame
        gain = (sums[first + a + 1: first + a + 1 + n] - sums[first - b: first - b + n]) / width
        return dsp.scale_frames(out, gain)

    def _inter_sample_peaks(self, joined: np.ndarray, peak: np.ndarray, hist: int, n: int) -> np.ndarray:
        """Max |interpolated value| over the 4 phases for frames [-T, n - T) of the block.

        An interpolated value is a 12-tap sum, so it is at most ``_TP_GAIN`` times the largest of the 12
        frames it reads: frames whose window stays under ceiling / ``_TP_GAIN`` cannot need less than unity
        gain and are not interpolated at all (their entry stays 0; the result is the same).
        """
        start = max(hist - _TP_TAPS - _TP_TAPS + 1, 0)
        segment = joined[start: hist + n]
        # y[k] (a 'valid' convolution of segment) is the interpolation just after frame
        # (start + k + T - 1 - _TP_CENTER) of `joined`; it reads segment[k : k + T].
        offset = (hist - _TP_TAPS) - (start + _TP_TAPS - 1 - _TP_CENTER)
        # Max over the 13 frames centred on k + 6 covers the 12 that y[k] reads (a superset: same result),
        # with a sliding extremum instead of a 12-wide strided max.
        around = dsp.sliding_max(peak[start: hist + n], _TP_TAPS // 2)
        windows_peak = around[offset + _TP_TAPS // 2: offset + _TP_TAPS // 2 + n]
        candidates = np.flatnonzero(windows_peak > self.ceiling / _TP_GAIN)
        best = np.zeros(n)
        if not len(candidates):
            return best
        if len(candidates) > n // 16:
            seg64 = segment.astype(np.float64)
            for phase in _TP_PHASES:
                for ch in range(seg64.shape[1]):
                    y = np.abs(np.convolve(seg64[:, ch], phase, mode="valid"))[offset: offset + n]
                    np.maximum(best[: len(y)], y, out=best[: len(y)])
            return best
        kernels = _TP_PHASES[:, ::-1].T                                  # (taps, phases), convolution order
        for ch in range(segment.shape[1]):
            windows = sliding_window_view(segment[:, ch].astype(np.float64), _TP_TAPS)[offset + candidates]
            best[candidates] = np.maximum(best[candidates], np.abs(windows @ kernels).max(axis=1))
        return best


# Loudness the limiter takes away, as a function of how far the mix's peaks would go over the ceiling
# (``overshoot_db``): fitted on the built-in narration over the built-in music, rendered at -20 … -7 LUFS
# and measured with pyloudnorm (quick-reset: -10 LUFS asked gave -11.67; the fit is within 0.1 LU there).
# Speech carries the peaks: the mix's peak sits about 17-18 dB over its integrated loudness; 17 centres
# the five built-in routines (-10 asked: -10.4 … -9.1 LUFS with the built-in music).
SPEECH_MIX_PEAK_TO_LOUDNESS_DB = 17.0
_LOSS_PER_DB2 = 0.02


def makeup_db(target_lufs: float, *, peak_to_loudness_db: float = SPEECH_MIX_PEAK_TO_LOUDNESS_DB,
              ceiling_db: float = -1.5) -> float:
    """How much louder to plan a mix so that, after the limiter, it still measures ``target_lufs``.

    Loud targets (−10 LUFS with speech, whose peaks stand ~17 dB over its loudness) push the peaks
    ~9 dB into the limiter, which lowers the integrated loudness by ``0.02 * overshoot_db²`` (the fit
    above). The makeup ``m`` solves ``m = loss(overshoot + m)``; 0 when the peaks stay under the ceiling.
    """
    overshoot_db = target_lufs + peak_to_loudness_db - ceiling_db
    if overshoot_db <= 0:
        return 0.0
    k = _LOSS_PER_DB2
    overshoot_db = min(overshoot_db, 1.0 / (4.0 * k))     # the fit's edge (12.5 dB over): no real root past it
    b = 1.0 - 2.0 * k * overshoot_db
    return (b - (b * b - 4.0 * k * k * overshoot_db ** 2) ** 0.5) / (2.0 * k)
