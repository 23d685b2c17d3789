"""Cleaning a take with pydub: silence cut keeping room tone, rumble filtered, levelled to -20 LUFS, faded,
written as FLAC; silent, clipped and cut-off takes are reported. Judged with pyloudnorm, scipy and
libsndfile, not with companion's own meter."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from companion.studio import takes
from tests.studio_signals import LINE, RATE_HZ, RUMBLE_HZ, band_db, speech_offset_s, spoken, take, true_peak_db

TARGET_LUFS = -20.0


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    """A 3-second spoken line with 1 s of room tone before, 1.2 s after, and a loud 35 Hz rumble; cleaned
    and written; returns (raw take, file samples, the CleanTake)."""
    raw = take(spoken(), lead_s=1.0, tail_s=1.2, rumble=0.1)
    result = takes.clean_take(takes.segment_from_samples(raw, RATE_HZ), LINE)
    path = takes.write_flac(result.segment, tmp_path_factory.mktemp("take") / "settle-1.flac")
    data, rate = sf.read(str(path), dtype="float64")
    assert rate == RATE_HZ and sf.info(str(path)).format == "FLAC"
    return raw, data, result


def test_the_clip_starts_within_200_ms_of_the_speech_and_ends_within_300_ms_after_it(cleaned):
    _, clip, result = cleaned
    speech = spoken()
    lead_s = speech_offset_s(clip, speech)
    tail_s = len(clip) / RATE_HZ - (lead_s + len(speech) / RATE_HZ)
    assert 0.05 <= lead_s <= 0.20, f"room tone before the speech: {lead_s * 1000:.0f} ms (want ~150, <= 200)"
    assert 0.0 <= tail_s <= 0.30, f"after the speech: {tail_s * 1000:.0f} ms (want ~150, <= 300)"
    assert result.problem is None


def test_the_clip_is_within_1_lu_of_the_narration_loudness_and_under_minus_1_dbfs(cleaned):
    _, clip, _ = cleaned
    loudness = pyloudnorm.Meter(RATE_HZ).integrated_loudness(clip)
    assert abs(loudness - TARGET_LUFS) <= 1.0, f"{loudness:.2f} LUFS, want {TARGET_LUFS} +/- 1"
    assert true_peak_db(clip) < -1.0


def test_rumble_is_reduced_by_at_least_20_db_against_the_voice(cleaned):
    raw, clip, _ = cleaned
    before = band_db(raw, RATE_HZ, 25, 45) - band_db(raw, RATE_HZ, 300, 3000)
    after = band_db(clip, RATE_HZ, 25, 45) - band_db(clip, RATE_HZ, 300, 3000)
    assert before - after >= 20.0, f"{RUMBLE_HZ:g} Hz rumble only {before - after:.1f} dB lower against the voice"


def test_each_end_is_a_fade_from_silence(cleaned):
    _, clip, _ = cleaned
    assert abs(clip[0]) < 1e-4 and abs(clip[-1]) < 1e-4
    assert np.abs(clip[: RATE_HZ // 100]).max() < np.abs(clip[RATE_HZ // 20: RATE_HZ // 10]).max() + 1e-6


def test_a_quiet_take_is_raised_and_a_loud_one_lowered_to_the_same_loudness():
    meter = pyloudnorm.Meter(RATE_HZ)
    for peak in (0.02, 0.9):
        result = takes.clean_take(takes.segment_from_samples(take(spoken(peak=peak), rumble=0.0), RATE_HZ), LINE)
        level = meter.integrated_loudness(takes.samples_from_segment(result.segment).astype(np.float64))
        assert abs(level - TARGET_LUFS) <= 1.0, f"peak {peak}: {level:.2f} LUFS"


@pytest.mark.parametrize("make, words", [
    (lambda: take(np.zeros(RATE_HZ * 2, np.float32), rumble=0.0, noise=0.0), "silent"),
    (lambda: take(np.zeros(RATE_HZ * 2, np.float32), rumble=0.05, noise=0.0003), "silent"),
    (lambda: take(np.clip(spoken(peak=1.0) * 3.0, -1.0, 1.0)), "clipped"),
    (lambda: take(spoken()[: RATE_HZ // 2]), "much shorter"),
])
def test_a_silent_clipped_or_cut_off_take_says_so_and_asks_for_a_retake(make, words):
    result = takes.clean_take(takes.segment_from_samples(make(), RATE_HZ), LINE)
    assert result.problem and words in result.problem and "retake" in result.problem, result.problem


def test_nothing_is_left_behind_when_the_export_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    segment = takes.segment_from_samples(take(spoken()), RATE_HZ)
    with pytest.raises(Exception):
        takes.write_flac(segment, tmp_path / "clips" / "one-1.flac")
    assert list((tmp_path / "clips").iterdir()) == []
