"""The loudness meter against the standard's own test signals (EBU Tech 3341 cases 1-5, at the rates
BS.2217 lists), built here, to +-0.1 LU; and judged by an independent meter (pyloudnorm) on the same."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from companion.media import loudness

TOLERANCE_LU = 0.1


def sine(seconds: float, dbfs: float, rate_hz: int, freq_hz: float = 1000.0) -> np.ndarray:
    """A stereo sine whose peak is ``dbfs`` on each channel (Tech 3341's '-23 dBFS' stimulus)."""
    t = np.arange(int(round(seconds * rate_hz))) / rate_hz
    mono = 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq_hz * t)
    return np.stack([mono, mono], axis=1)


def sequence(rate_hz: int, *parts: tuple[float, float]) -> np.ndarray:
    """(seconds, dBFS) pieces of 1 kHz sine, one after the other."""
    return np.concatenate([sine(seconds, dbfs, rate_hz) for seconds, dbfs in parts])


# EBU Tech 3341 (2016), table 1: integrated-loudness cases for stereo.
CASES = {
    "case 1: -23 dBFS, 20 s": ([(20, -23)], -23.0),
    "case 2: -33 dBFS, 20 s": ([(20, -33)], -33.0),
    "case 3: -36/-23/-36 dBFS, 10/60/10 s (relative gate)": ([(10, -36), (60, -23), (10, -36)], -23.0),
    "case 4: -72/-36/-23/-36/-72 dBFS (both gates)": ([(10, -72), (10, -36), (60, -23), (10, -36), (10, -72)], -23.0),
    "case 5: -26/-20/-26 dBFS, 20/20.1/20 s": ([(20, -26), (20.1, -20), (20, -26)], -23.0),
}


@pytest.mark.parametrize("case, rate_hz", [(case, 48_000) for case in CASES] + [
    ("case 1: -23 dBFS, 20 s", 44_100), ("case 3: -36/-23/-36 dBFS, 10/60/10 s (relative gate)", 44_100),
    ("case 1: -23 dBFS, 20 s", 96_000)])
def test_integrated_loudness_meets_ebu_tech_3341(case, rate_hz):
    parts, expected = CASES[case]
    signal = sequence(rate_hz, *parts)
    measured = loudness.integrated_loudness(signal.astype(np.float32), rate_hz)
    assert measured == pytest.approx(expected, abs=TOLERANCE_LU), f"{case} at {rate_hz} Hz: {measured:.3f} LUFS"


@pytest.mark.parametrize("case", ["case 1: -23 dBFS, 20 s", "case 5: -26/-20/-26 dBFS, 20/20.1/20 s"])
def test_the_meter_agrees_with_pyloudnorm_on_the_same_cases(case):
    parts, _ = CASES[case]
    signal = sequence(48_000, *parts)
    ours = loudness.integrated_loudness(signal.astype(np.float32), 48_000)
    judged = pyloudnorm.Meter(48_000).integrated_loudness(signal)
    assert ours == pytest.approx(judged, abs=TOLERANCE_LU), f"{case}: ours {ours:.3f}, pyloudnorm {judged:.3f}"


def test_streaming_meter_gives_the_case_3_result_in_uneven_blocks():
    signal = sequence(48_000, (10, -36), (60, -23), (10, -36)).astype(np.float32)
    meter = loudness.LoudnessMeter(48_000, 2)
    start = 0
    for size in [1, 4799, 4801, 65_536] * 100:
        meter.add(signal[start:start + size])
        start += size
    meter.add(signal[start:])
    assert meter.integrated_lufs() == pytest.approx(-23.0, abs=TOLERANCE_LU)


@pytest.mark.parametrize("target_lufs", [-20.0, -30.0])
def test_levelling_brings_a_clip_to_the_target_and_respects_the_peak_cap(target_lufs):
    rate_hz = 24_000
    clip = sine(3, -12, rate_hz, freq_hz=300)[:, :1] * np.linspace(0.5, 1.0, 3 * rate_hz)[:, None]
    gain_db = loudness.levelling_gain_db(clip, rate_hz, target_lufs, copies=2)
    levelled = np.repeat(clip * 10 ** (gain_db / 20), 2, axis=1)        # the mono clip on both sides
    assert pyloudnorm.Meter(rate_hz).integrated_loudness(levelled) == pytest.approx(target_lufs, abs=TOLERANCE_LU)
    capped = loudness.levelling_gain_db(clip, rate_hz, 0.0, max_peak_db=-3.0)
    assert 20 * np.log10(np.abs(clip).max()) + capped == pytest.approx(-3.0, abs=1e-9), "the peak cap wins"
    assert loudness.levelling_gain_db(clip * 1e-6, rate_hz, target_lufs) == 0.0, "silence is left alone"


def test_a_16_bit_wav_at_44_1_khz_with_different_channels_matches_pyloudnorm(tmp_path):
    """The file path as music takes it: 16-bit PCM read as stored, both channels in one FFT (L + iR).
    The channels differ (noise of two spectra at two levels, a tone on one side only, and a 1 kHz tone
    90 degrees apart on the two sides, whose cross terms a wrong packing would count), so one channel
    leaking into the other's power would show; Tech 3341's cases are the same on both sides."""
    import soundfile
    from scipy.signal import butter, sosfilt

    rate_hz = 44_100
    rng = np.random.default_rng(5)
    left = sosfilt(butter(4, [200, 6000], "bandpass", fs=rate_hz, output="sos"), rng.standard_normal(8 * rate_hz))
    right = sosfilt(butter(2, 3000, "highpass", fs=rate_hz, output="sos"), rng.standard_normal(8 * rate_hz))
    right += 4 * np.sin(2 * np.pi * 60 * np.arange(8 * rate_hz) / rate_hz)
    signal = np.stack([left * 0.05 / left.std(), right * 0.01 / right.std()], axis=1)
    phase = 2 * np.pi * 1000 * np.arange(8 * rate_hz) / rate_hz
    signal += 0.05 * np.stack([np.sin(phase), np.cos(phase)], axis=1)
    path = tmp_path / "music.wav"
    soundfile.write(path, signal, rate_hz, subtype="PCM_16")
    stored, _ = soundfile.read(path, dtype="float64")              # what the file holds, 16-bit rounded
    judged = pyloudnorm.Meter(rate_hz).integrated_loudness(stored)
    measured = loudness.analyse_file(path)
    assert measured.loudness_lufs == pytest.approx(judged, abs=TOLERANCE_LU), (
        f"ours {measured.loudness_lufs:.3f} LUFS, pyloudnorm {judged:.3f}")
    assert measured.peak_db == pytest.approx(20 * np.log10(np.abs(stored).max()), abs=1e-6)
