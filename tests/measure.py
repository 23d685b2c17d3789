"""Independent measuring instruments for tests (scipy), so the engine is not judged by its own meters."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from scipy import signal


def decode_with_ffmpeg(path: Path, rate_hz: int) -> np.ndarray:
    """A whole file as float32 stereo at ``rate_hz``, by the ffmpeg command line (not companion's decoder)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", f"file:{path}", "-ac", "2",
                           "-ar", str(rate_hz), "-f", "f32le", "-"], capture_output=True, check=True)
    return np.frombuffer(done.stdout, dtype="<f4").reshape(-1, 2)


def true_peak_db(samples: np.ndarray, oversample: int = 4) -> float:
    """Peak after ``oversample``x polyphase interpolation (scipy's resample_poly, a longer filter than
    the engine's 12-tap-per-phase detector), in dBFS."""
    x = np.asarray(samples, dtype=np.float64)
    peak = float(np.max(np.abs(signal.resample_poly(x, oversample, 1, axis=0))))
    return 20.0 * np.log10(peak) if peak > 0 else -120.0


# ITU-R BS.1770-4 K-weighting at 48 kHz, the standard's own coefficients (pre-filter shelf, then RLB high-pass).
_K_STAGES_48K = (
    ([1.53512485958697, -2.69169618940638, 1.19839281085285], [1.0, -1.69065929318241, 0.73248077421585]),
    ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621]),
)


class ShortTermMeter:
    """EBU R128 short-term loudness of a stream fed block by block (48 kHz only: the coefficients).

    ``add(block)`` K-weights each channel (filter state carried across blocks) and keeps the energy of
    every 100 ms hop; ``lufs()`` gives the ungated short-term loudness of each 3 s window, one value per
    hop: value i covers [i * 0.1 s, i * 0.1 s + 3 s). Memory: one float per 100 ms, any length.
    """

    HOP_FRAMES = 4_800

    def __init__(self, channels: int = 2) -> None:
        self._state = [signal.lfilter_zi(b, a)[:, None] * np.zeros(channels) for b, a in _K_STAGES_48K]
        self._pending = np.zeros((0, channels))
        self._hops: list[np.ndarray] = []

    def add(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        for index, (b, a) in enumerate(_K_STAGES_48K):
            x, self._state[index] = signal.lfilter(b, a, x, axis=0, zi=self._state[index])
        x = np.concatenate([self._pending, x])
        whole = len(x) // self.HOP_FRAMES * self.HOP_FRAMES
        self._hops.append((x[:whole] ** 2).sum(axis=1).reshape(-1, self.HOP_FRAMES).sum(axis=1))
        self._pending = x[whole:]

    def lufs(self, window_s: float = 3.0) -> np.ndarray:
        energy = np.concatenate([[0.0], np.cumsum(np.concatenate(self._hops))])
        hops = int(round(window_s * 10))
        mean_square = (energy[hops:] - energy[:-hops]) / (hops * self.HOP_FRAMES)
        return -0.691 + 10.0 * np.log10(mean_square + 1e-20)


def short_term_lufs(samples: np.ndarray) -> np.ndarray:
    """EBU R128 short-term loudness of a whole 48 kHz signal, every 100 ms (see ShortTermMeter)."""
    x = np.asarray(samples, dtype=np.float64)
    meter = ShortTermMeter(1 if x.ndim == 1 else x.shape[1])
    meter.add(x[:, None] if x.ndim == 1 else x)
    return meter.lufs()
