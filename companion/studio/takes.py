"""One take of one narration line, cleaned with pydub: what a recorded or imported line goes through.

Order matters: the rumble is filtered first (in numpy: see ``high_pass``) (so a rumbling room does not read as speech), then the
leading and trailing silence is cut keeping ``ROOM_TONE_S`` of room tone each side (a clip that starts
in digital silence sounds cut off), then the take is levelled to the loudness of the built-in narration
(measured with the project's own BS.1770 meter, ``companion.media.loudness``, never pydub's RMS) without letting its
true peak pass -1 dBFS, and a short fade is put on each end, inside the room tone.

pydub fits here: these are short files (a line is seconds long), its AudioSegment converts, slices,
gains, fades and exports them, and ``AudioSegment.from_file`` reads whatever ffmpeg reads (a phone's m4a voice
memo included). Samples are kept as 32-bit integers throughout (24-bit FLAC out), so levelling a quiet
take does not raise a 16-bit noise floor.

A take that is silent, clipped, or much shorter than its text needs is reported as a ``problem`` (one
sentence saying what to do), so the recorder can ask for a retake and the importer can skip the file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydub import AudioSegment

from companion import dsp
from companion.errors import AudioFileError
from companion.media.decode import ffmpeg_path
from companion.media.loudness import integrated_loudness, levelling_gain_db
from companion.narration.synthesis import estimated_seconds
from companion.narration.voicing import MAX_PEAK_DB, TARGET_LUFS

ROOM_TONE_S = 0.15          # kept before the first and after the last sound of speech
FADE_S = 0.05               # fade in and out, inside the room tone
HIGH_PASS_HZ = 80.0         # rumble (traffic, handling, air conditioning) lies below this; a voice above
HIGH_PASS_ORDER = 4         # Butterworth order: 24 dB/octave below HIGH_PASS_HZ
CHUNK_MS = 10               # level analysis step
SOUND_CHUNKS = 3            # speech: this many chunks in a row above the threshold (a click is not)
SPEECH_PERCENTILE = 95      # the level of "speech": loud chunks, not the single loudest
NOISE_PERCENTILE = 10       # the level of room tone: the quiet chunks
SPEECH_BELOW_NOISE_DB = 35  # quieter than the speech level by this much counts as silence ...
ABOVE_NOISE_DB = 10         # ... and so does anything within this of the room tone
DIGITAL_SILENCE_DBFS = -100.0  # chunks below this are zeros (or dither), not a room
SILENT_BELOW_DBFS = -55.0   # a take whose speech level is under this has nobody speaking in it
CLIPPED_AT = 0.999          # |sample| at or above this (of full scale) ...
CLIPPED_RUN = 3             # ... for this many samples in a row: the input overloaded
TOO_SHORT_RATIO = 0.4       # speech shorter than this share of the text's estimated length: cut off
SAMPLE_WIDTH = 4            # bytes: 32-bit integer samples while cleaning
FULL_SCALE = float(1 << 31)


@dataclass(frozen=True)
class CleanTake:
    """A cleaned take, ready to be written: the audio and what was measured on the way."""

    segment: AudioSegment
    speech_start_s: float     # where the kept part begins in the raw take (room tone included)
    speech_s: float           # length of the speech between the first and last sound
    loudness_lufs: float      # after levelling, measured with companion.media.loudness
    problem: str | None       # None: a good take; else one sentence saying what is wrong and what to do

    @property
    def duration_s(self) -> float:
        return len(self.segment) / 1000.0


def segment_from_samples(samples: np.ndarray, rate_hz: int) -> AudioSegment:
    """Float samples (mono, or ``(frames, channels)`` mixed to mono) → a 32-bit mono AudioSegment."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    ints = np.clip(np.nan_to_num(x) * FULL_SCALE, -FULL_SCALE, FULL_SCALE - 1).astype("<i4")
    return AudioSegment(data=ints.tobytes(), sample_width=SAMPLE_WIDTH, frame_rate=int(rate_hz), channels=1)


def samples_from_segment(segment: AudioSegment) -> np.ndarray:
    """A mono AudioSegment → float32 samples in -1..1 (any sample width)."""
    scale = float(1 << (8 * segment.sample_width - 1))
    ints = np.array(segment.get_array_of_samples(), dtype=np.float64)
    return (ints.reshape(-1, segment.channels).mean(axis=1) / scale).astype(np.float32)


def load_take(path: Path) -> AudioSegment:
    """Any file ffmpeg reads (wav, flac, mp3, ogg, a phone's m4a ...) as a 32-bit mono AudioSegment.

    Raises AudioFileError naming the file when it holds no readable audio."""
    from pydub.exceptions import CouldntDecodeError

    ffmpeg_path()
    try:
        segment = AudioSegment.from_file(str(path))
    except (CouldntDecodeError, IndexError, OSError, KeyError) as err:
        raise AudioFileError(f"{path}: not a readable audio file") from err
    if len(segment) == 0:
        raise AudioFileError(f"{path}: the file holds no audio")
    return segment.set_channels(1).set_sample_width(SAMPLE_WIDTH)


def clean_take(raw: AudioSegment, text: str | None = None) -> CleanTake:
    """Filter, trim, level and fade one take (module docstring). ``text`` sets the "too short" check."""
    raw = raw.set_channels(1).set_sample_width(SAMPLE_WIDTH)
    samples = samples_from_segment(raw)
    clipped = _clipped_runs(samples)
    filtered = segment_from_samples(high_pass(samples, raw.frame_rate), raw.frame_rate)
    levels_db = _chunk_levels_db(samples_from_segment(filtered), filtered.frame_rate)
    speech_db = float(np.percentile(levels_db, SPEECH_PERCENTILE)) if len(levels_db) else dsp.SILENCE_DB
    if speech_db < SILENT_BELOW_DBFS:
        return CleanTake(filtered, 0.0, 0.0, dsp.SILENCE_DB,
                         "the take is silent: check the microphone (companion devices) and speak, then retake")
    # Room tone: the quiet chunks, leaving out digital silence (an input stream often starts with zeros,
    # and zeros would set the bar so low that the room itself counted as speech).
    sounding = levels_db[levels_db > DIGITAL_SILENCE_DBFS]
    noise_db = float(np.percentile(sounding, NOISE_PERCENTILE)) if len(sounding) else dsp.SILENCE_DB
    threshold_db = max(noise_db + ABOVE_NOISE_DB, speech_db - SPEECH_BELOW_NOISE_DB)
    first = _first_sound(levels_db, threshold_db)
    if first == len(levels_db):     # nothing sounds for SOUND_CHUNKS chunks in a row: clicks, no speech
        return CleanTake(filtered, 0.0, 0.0, dsp.SILENCE_DB,
                         "the take is silent (no speech in it): check the microphone and speak, then retake")
    lead_ms = first * CHUNK_MS
    tail_ms = len(filtered) - (len(levels_db) - _first_sound(levels_db[::-1], threshold_db)) * CHUNK_MS
    start_ms = max(0, lead_ms - round(ROOM_TONE_S * 1000))
    end_ms = min(len(filtered), len(filtered) - tail_ms + round(ROOM_TONE_S * 1000))
    kept = filtered[start_ms:end_ms]
    speech_s = max(0.0, (len(filtered) - tail_ms - lead_ms) / 1000.0)
    samples = samples_from_segment(kept)
    gain_db = levelling_gain_db(samples, kept.frame_rate, TARGET_LUFS)
    gain_db = min(gain_db, MAX_PEAK_DB - 0.1 - dsp.true_peak_db(samples))   # true peak, not sample peak
    fade_ms = min(round(FADE_S * 1000), len(kept) // 4)
    levelled = kept.apply_gain(gain_db)
    if fade_ms > 0:                 # (pydub's fade treats a 0 ms duration as "unset" and fails)
        levelled = levelled.fade_in(fade_ms).fade_out(fade_ms)
    loudness = integrated_loudness(samples_from_segment(levelled), levelled.frame_rate)
    problem = None
    if clipped:
        problem = (f"the take is clipped ({clipped} overloads): move back from the microphone or turn the "
                   "input level down, then retake")
    elif text and speech_s < TOO_SHORT_RATIO * estimated_seconds(text):
        problem = (f"the take is much shorter than the line needs ({speech_s:.1f} s of speech for about "
                   f"{estimated_seconds(text):.0f} s of words): retake it, the whole line")
    return CleanTake(levelled, start_ms / 1000.0, speech_s, loudness, problem)


def write_flac(segment: AudioSegment, path: Path) -> Path:
    """Export ``segment`` as FLAC (24-bit from 32-bit samples) to ``path``: a temporary file in the same
    folder renamed into place, so the routine never points at half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".take-", suffix=".flac")
    os.close(handle)
    try:
        ffmpeg_path()
        segment.export(tmp, format="flac").close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def high_pass(samples: np.ndarray, rate_hz: int, cutoff_hz: float = HIGH_PASS_HZ,
              order: int = HIGH_PASS_ORDER) -> np.ndarray:
    """Zero-phase Butterworth-magnitude high-pass of a short mono signal, in one FFT.

    pydub's own ``high_pass_filter`` is a one-pole filter run sample by sample in Python (about 0.25 s per
    pole for a 10 s take, and four are needed for 24 dB/octave); the whole take is in memory anyway, so
    the response |H(f)| = 1 / sqrt(1 + (fc/f)^(2 order)) is applied to its spectrum. Zero phase: the
    speech does not move in time, so the cut points found afterwards are where the speech is. The signal
    is padded by 0.25 s so the filter's ring-out does not wrap around."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return x.astype(np.float32)
    size = 1 << int(np.ceil(np.log2(len(x) + rate_hz // 4)))
    freqs = np.fft.rfftfreq(size, 1.0 / rate_hz)
    with np.errstate(divide="ignore"):
        response = 1.0 / np.sqrt(1.0 + (cutoff_hz / np.maximum(freqs, 1e-9)) ** (2 * order))
    return np.fft.irfft(np.fft.rfft(x, size) * response, size)[: len(x)].astype(np.float32)


def _chunk_levels_db(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """RMS level of each CHUNK_MS chunk, dBFS (digital silence: dsp.SILENCE_DB)."""
    size = max(1, rate_hz * CHUNK_MS // 1000)
    whole = len(samples) // size
    if whole == 0:
        return np.array([], dtype=np.float64)
    chunks = samples[: whole * size].astype(np.float64).reshape(whole, size)
    rms = np.sqrt(np.mean(chunks * chunks, axis=1))
    return np.where(rms > 0, 20.0 * np.log10(np.maximum(rms, 1e-12)), dsp.SILENCE_DB)


def _first_sound(levels_db: np.ndarray, threshold_db: float) -> int:
    """Index of the first chunk that starts SOUND_CHUNKS chunks in a row above ``threshold_db`` (a lone
    click, or the filter settling in the first chunk, is not speech); len(levels_db) if none does."""
    loud = (levels_db > threshold_db).astype(np.int32)
    runs = np.convolve(loud, np.ones(SOUND_CHUNKS, np.int32), mode="valid")
    found = np.flatnonzero(runs == SOUND_CHUNKS)
    return int(found[0]) if len(found) else len(levels_db)


def _clipped_runs(samples: np.ndarray) -> int:
    """How many runs of CLIPPED_RUN or more samples sit at full scale (an overloaded input)."""
    hot = np.abs(samples) >= CLIPPED_AT
    if not hot.any():
        return 0
    edges = np.diff(np.concatenate([[0], hot.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(np.count_nonzero(ends - starts >= CLIPPED_RUN))
