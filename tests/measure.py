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
