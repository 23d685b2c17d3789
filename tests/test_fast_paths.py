"""The render path's fast helpers against slow, obvious references: same numbers, measured."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyloudnorm
import pytest
import soundfile

from companion import dsp
from companion.output.export import Dither
from companion.media.clips import ClipStore
from companion.media.decode import StreamDecoder


# --- sliding extremes and control curves ---------------------------------------------------------------

@pytest.mark.parametrize("n, half", [(1, 0), (1, 6), (5, 6), (13, 6), (100, 6), (1000, 480), (4801, 37)])
def test_sliding_extremes_match_a_brute_force_window(n, half):
    values = np.random.default_rng(n + half).standard_normal(n)
    padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    assert np.array_equal(dsp.sliding_min(values, half), windows.min(axis=1))
    assert np.array_equal(dsp.sliding_max(values, half), windows.max(axis=1))


@pytest.mark.parametrize("offset, frames", [(0, 64), (17, 1000), (63, 1), (5, 48000)])
def test_control_curve_is_the_linear_interpolation_of_its_grid(offset, frames):
    step = 64
    cells = -(-(offset + frames) // step) + 1
    values = np.random.default_rng(frames).random(cells)
    expected = np.interp(np.arange(offset, offset + frames), np.arange(cells) * step, values)
    got = dsp.control_curve(values, step, offset, frames)
    assert got.dtype == np.float32 and len(got) == frames
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_scale_frames_applies_a_scalar_or_a_per_frame_gain_in_place():
    x = np.random.default_rng(1).standard_normal((1000, 2)).astype(np.float32)
    gain = np.linspace(0.0, 1.0, 1000)
    expected = x * gain[:, None]
    same = dsp.scale_frames(x, gain)
    assert same is x
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-7)
    dsp.scale_frames(x, 0.5)
    np.testing.assert_allclose(x, expected * 0.5, rtol=1e-6, atol=1e-7)


# --- dither --------------------------------------------------------------------------------------------

def test_dither_on_silence_is_triangular_plus_minus_one_lsb():
    codes = Dither(3).to_int16(np.zeros((400_000, 2), np.float32), 12_345)
    # TPDF of ±1 LSB rounded: P(-1) = P(+1) = 1/8, P(0) = 3/4 (±0.01 with 800k samples).
    assert set(np.unique(codes)) <= {-1, 0, 1}
    assert np.mean(codes == 0) == pytest.approx(0.75, abs=0.01)
    assert np.mean(codes == 1) == pytest.approx(0.125, abs=0.01)
    assert np.mean(codes == -1) == pytest.approx(0.125, abs=0.01)


def test_dither_rounds_within_one_and_a_half_lsb_and_clips_at_full_scale():
    x = np.random.default_rng(2).uniform(-0.9, 0.9, (100_000, 2)).astype(np.float32)
    codes = Dither(0).to_int16(x, 0)
    assert codes.dtype == np.int16
    assert np.abs(codes - x.astype(np.float64) * 32767).max() <= 1.5
    edge = Dither(0).to_int16(np.array([[1.0, -1.0], [1.5, -1.5]], np.float32), 0)
    assert edge.tolist() == [[32767, -32767], [32767, -32768]]


def test_dither_does_not_depend_on_block_size_or_table_wrap():
    x = np.random.default_rng(4).uniform(-0.5, 0.5, (700_000, 2)).astype(np.float32)
    whole = Dither(7).to_int16(x, 0)
    dither = Dither(7)
    for size in (1, 4_097, 48_000, 300_000):
        pieces = [dither.to_int16(x[i:i + size], i) for i in range(0, 200_000 if size == 1 else len(x), size)]
        joined = np.concatenate(pieces)
        assert np.array_equal(joined, whole[:len(joined)]), size


# --- decoding ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def track(tmp_path_factory):
    path = tmp_path_factory.mktemp("prefill") / "track.wav"
    rng = np.random.default_rng(5)
    soundfile.write(path, (rng.standard_normal((44_100 * 6, 2)) * 0.1).astype(np.float32), 44_100,
                    subtype="PCM_16")
    return path


def test_prefilled_frames_are_the_same_frames_as_read_from_the_pipe(track):
    with StreamDecoder(track, 48_000) as decoder:
        plain = np.concatenate([decoder.read(48_000).copy() for _ in range(7)])
    with StreamDecoder(track, 48_000) as decoder:
        decoder.prefill(100_000, threading.Event())
        parts = [decoder.read(30_000) for _ in range(12)]
    assert sum(map(len, parts)) == len(plain)
    assert np.array_equal(np.concatenate(parts), plain)


def test_frames_kept_ahead_while_the_mixer_reads_are_the_same_frames_in_order(track):
    """keep_ahead (renders) fills on a worker thread while the owner reads the same decoder: every frame
    arrives once, in order, whichever of the two read the pipe; the worker stops at the end of the track."""
    with StreamDecoder(track, 48_000) as decoder:
        plain = np.concatenate([decoder.read(48_000).copy() for _ in range(7)])
    with StreamDecoder(track, 48_000) as decoder:
        stop = threading.Event()
        worker = threading.Thread(target=decoder.keep_ahead, args=(150_000, stop))
        worker.start()
        parts, size, most_ahead = [], 1, 0
        while True:
            most_ahead = max(most_ahead, len(decoder._ahead))
            part = decoder.read(size)
            if not len(part):
                break
            parts.append(part.copy())
            size = size * 7 % 40_009 + 1     # uneven requests, some under, some over a fill step
            time.sleep(0.002)                # the mixer's work: the worker gets ahead meanwhile
        worker.join(timeout=10)
        assert not worker.is_alive(), "keep_ahead did not end with the stream"
    assert most_ahead > 100_000, f"the worker never got ahead ({most_ahead} frames)"
    assert np.array_equal(np.concatenate(parts), plain)


def test_prefill_stops_when_asked(track):
    stop = threading.Event()
    stop.set()
    with StreamDecoder(track, 48_000) as decoder:
        decoder.prefill(10_000_000, stop)
        assert not decoder._ahead
        assert len(decoder.read(1000)) == 1000


def test_closing_a_decoder_mid_track_ends_its_stderr_reader_first(track):
    """The reader thread owns ffmpeg's stderr and closes it; close() waits for it. When close() closed
    stderr under a running reader, the reader died with EBADF now and then (a
    PytestUnhandledThreadExceptionWarning); 8 of 20 readers were still running after close() then."""
    for _ in range(10):
        decoder = StreamDecoder(track, 48_000)
        decoder.read(4800)
        decoder.close()
        reader = decoder._ffmpeg.log
        assert not reader.is_alive() and decoder._proc.stderr.closed, "close() returned under a live reader"


def test_a_mono_clip_is_measured_as_heard_on_both_sides(tmp_path):
    # Loudness is measured on the file's own samples (24 kHz mono, counted twice); after resampling and
    # up-mixing the clip must sit at the store's target within 0.1 LU (BS.1770, measured at 48 kHz).
    rate = 24_000
    t = np.arange(rate * 3) / rate
    speech_like = 0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    path = tmp_path / "line.wav"
    soundfile.write(path, speech_like.astype(np.float32), rate, subtype="PCM_16")
    store = ClipStore(48_000, -20.0)
    clip = store.get(path)
    assert clip.shape == (rate * 3 * 2, 2)
    judged = pyloudnorm.Meter(48_000).integrated_loudness(clip.astype(np.float64))   # not the engine's meter
    assert judged == pytest.approx(-20.0, abs=0.1)
    store.close()


def test_the_next_track_is_decoded_ahead_only_as_far_as_the_session_can_use(track):
    from companion.mix.playlist import PREFILL_S, MusicStream, _Opened

    rate = 48_000
    stream = MusicStream(iter([track]), lambda path: -20.0, rate_hz=rate, target_lufs=-20.0, crossfade_s=6.0,
                         length_of=lambda path: 300.0)
    playing = _Opened(track, decoder=None, gain=1.0)
    try:
        assert stream._prefill_frames(playing, 0) == int(PREFILL_S * rate)      # end unknown: the most
        stream.until = 3600 * rate
        assert stream._prefill_frames(playing, 0) == int(PREFILL_S * rate)      # a long session: the most
        stream.until = 320 * rate   # the next track starts at 294 s and is heard for 26 s: 26 + 10 s
        assert stream._prefill_frames(playing, 0) == 36 * rate
        stream.until = 250 * rate   # the session ends before the next track begins
        assert stream._prefill_frames(playing, 0) == 0
    finally:
        stream.close()
