"""Independent measuring instruments for tests (scipy), so the engine is not judged by its own meters."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
from scipy import signal


def decode_with_ffmpeg(path: Path, rate_hz: int) -> np.ndarray:
    """A whole file as float32 stereo at ``rate_hz``, by the ffmpeg command line (not companion's decoder)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", f"file:{path}", "-ac", "2",
                           "-ar", str(rate_hz), "-f", "f32le", "-"], capture_output=True, check=True)
    return np.frombuffer(done.stdout, dtype="<f4").reshape(-1, 2)


def ffmpeg_integrated_lufs(path: Path) -> float:
    """A file's integrated loudness by ffmpeg's ebur128 filter (BS.1770 gating, in C; 0.1 LU resolution).

    Not companion's meter. On a 4-minute 48 kHz render it takes ~0.4 s, where reading the file and
    pyloudnorm took ~4 s (pyloudnorm copies and filters the whole float64 signal); the two agreed within
    0.1 LU there (-10.3 vs -10.36 LUFS), and within 0.04 LU on EBU Tech 3341 signals (FIELD-NOTES)."""
    done = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", f"file:{path}",
                           "-af", "ebur128=framelog=verbose", "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    found = re.findall(r"^\s*I:\s+(-?[0-9.]+|-inf) LUFS", done.stderr, re.MULTILINE)
    assert found, done.stderr[-2000:]
    return float(found[-1])


def true_peak_db(samples: np.ndarray, oversample: int = 4) -> float:
    """Peak after ``oversample``x polyphase interpolation (scipy's resample_poly, a longer filter than
    the engine's 12-tap-per-phase detector), in dBFS."""
    x = np.asarray(samples, dtype=np.float64)
    # One contiguous channel at a time: the same samples as axis=0 on (frames, channels), 10x faster
    # (resample_poly strides badly down a column: 9.7 s vs 0.95 s for 5 min of 16 kHz stereo).
    channels = x.reshape(len(x), -1).T if x.ndim > 1 else x[None, :]
    peak = max(float(np.max(np.abs(signal.resample_poly(np.ascontiguousarray(channel), oversample, 1))))
               for channel in channels)
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


def window_loudness(x: np.ndarray, rate_hz: int, window_s: float = 0.4) -> np.ndarray:
    """BS.1770 loudness (pyloudnorm's K-weighting, no gating) of each consecutive ``window_s`` window, in
    LUFS (−inf for digital silence)."""
    import pyloudnorm

    meter = pyloudnorm.Meter(rate_hz)
    weighted = np.asarray(x, dtype=np.float64)
    for stage in meter._filters.values():   # the K-weighting stages (high shelf, high pass)
        weighted = signal.lfilter(stage.b, stage.a, weighted)
    n = int(round(window_s * rate_hz))
    count = len(weighted) // n
    power = np.mean(weighted[: count * n].reshape(count, n) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(power)


def voice_over_music_db(full: np.ndarray, voice: np.ndarray, rate_hz: int, *, speaking_lu: float = 10.0,
                        window_s: float = 0.4) -> np.ndarray:
    """Voice loudness minus music loudness in each ``window_s`` window where the voice is speaking.

    ``full`` is the mixed session and ``voice`` the same session rendered without music; the music is
    their difference. A voice-only session places its voice at the session's loudness, not where it sits
    over music, so the stem is first scaled by the least-squares gain that fits it into the mix (the music
    is uncorrelated with it). A window counts as speaking when the voice there is within ``speaking_lu``
    of its loudest 10 % of windows (pauses between sentences are left out)."""
    n = min(len(full), len(voice))
    full, voice = np.asarray(full[:n], np.float64), np.asarray(voice[:n], np.float64)
    voice = voice * (np.dot(full, voice) / max(np.dot(voice, voice), 1e-30))
    v = window_loudness(voice[:n], rate_hz, window_s)
    m = window_loudness(full[:n] - voice[:n], rate_hz, window_s)
    finite = v[np.isfinite(v)]
    if not len(finite):
        return np.zeros(0)
    speaking = v >= np.percentile(finite, 90) - speaking_lu
    return (v - m)[speaking]


def frame_rms_db(x: np.ndarray, rate_hz: int, frame_s: float = 0.05) -> np.ndarray:
    """RMS level of consecutive ``frame_s`` frames in dBFS (−120 for silence)."""
    n = max(1, int(round(frame_s * rate_hz)))
    count = len(x) // n
    rms = np.sqrt(np.mean(np.asarray(x[: count * n], np.float64).reshape(count, n) ** 2, axis=1))
    return 20.0 * np.log10(np.maximum(rms, 1e-6))


def speech_runs(voice: np.ndarray, rate_hz: int, *, floor_db: float = -50.0, frame_s: float = 0.05,
                join_s: float = 0.5) -> list[tuple[float, float]]:
    """(start s, end s) of each stretch of voice louder than ``floor_db``; pauses shorter than ``join_s``
    (between words) are joined."""
    loud = frame_rms_db(voice, rate_hz, frame_s) > floor_db
    runs: list[list[float]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        a, b = start * frame_s, stop * frame_s
        if runs and a - runs[-1][1] < join_s:
            runs[-1][1] = b
        else:
            runs.append([a, b])
    return [(a, b) for a, b in runs]


def breath_phase_s(music: np.ndarray, rate_hz: int, start_s: float, end_s: float, in_s: float, out_s: float,
                   exclude: list[tuple[float, float]], step_s: float = 0.02) -> float:
    """Where (seconds, absolute, the first at or after ``start_s``) the music's breathing swell starts to
    rise, estimated from the rendered music alone: its 50 ms level between ``start_s`` and ``end_s``
    (leaving out the ``exclude`` spans, where ducking moves it) is matched against the shape of one
    breath (a raised-cosine rise over ``in_s``, fall over ``out_s``) at every offset ``step_s`` apart."""
    frame_s = 0.05
    level = frame_rms_db(music, rate_hz, frame_s)
    t = (np.arange(len(level)) + 0.5) * frame_s
    keep = (t >= start_s + 3.0) & (t < end_s - 3.0)
    for a, b in exclude:
        keep &= ~((t >= a) & (t < b))
    t, level = t[keep], level[keep]
    cycle = in_s + out_s
    best, best_offset = -np.inf, 0.0
    for offset in np.arange(0.0, cycle, step_s):
        phase = np.mod(t - start_s - offset, cycle)
        shape = np.where(phase < in_s, 0.5 - 0.5 * np.cos(np.pi * phase / in_s),
                         0.5 + 0.5 * np.cos(np.pi * (phase - in_s) / out_s))
        score = np.corrcoef(shape, level)[0, 1] if len(t) > 10 else -np.inf
        if score > best:
            best, best_offset = score, offset
    return start_s + best_offset


class StreamingLoudness:
    """BS.1770-4 integrated loudness of a signal fed block by block (pyloudnorm's K-weighting filters,
    scipy's lfilter with carried state; 400 ms gating blocks with 75 % overlap, absolute gate −70 LUFS,
    relative gate −10 LU), so a whole session need not be held in memory to be measured."""

    def __init__(self, rate_hz: int, channels: int = 2) -> None:
        import pyloudnorm

        self.stages = [(f.b, f.a) for f in pyloudnorm.Meter(rate_hz)._filters.values()]
        self.state = [np.zeros((max(len(a), len(b)) - 1, channels)) for b, a in self.stages]
        self.hop = int(round(0.1 * rate_hz))
        self.pending = np.zeros(0)
        self.hops: list[float] = []        # K-weighted power of each 100 ms hop, summed over channels

    def add(self, samples: np.ndarray) -> None:
        x = np.asarray(samples, dtype=np.float64)
        for i, (b, a) in enumerate(self.stages):
            x, self.state[i] = signal.lfilter(b, a, x, axis=0, zi=self.state[i])
        power = np.concatenate([self.pending, np.sum(x ** 2, axis=1)])
        count = len(power) // self.hop
        self.hops += list(power[: count * self.hop].reshape(count, self.hop).mean(axis=1))
        self.pending = power[count * self.hop:]

    def integrated_lufs(self) -> float:
        hops = np.array(self.hops)
        blocks = np.convolve(hops, np.ones(4) / 4, mode="valid")      # 400 ms blocks, 100 ms apart
        loudness = -0.691 + 10 * np.log10(np.maximum(blocks, 1e-20))
        gated = blocks[loudness > -70.0]
        relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
        gated = blocks[(loudness > -70.0) & (loudness > relative)]
        return float(-0.691 + 10 * np.log10(gated.mean()))
