"""Integrated loudness (ITU-R BS.1770-4 / EBU R 128) of audio files, measured fast and in bounded memory.

Why not pyloudnorm or ffmpeg's ``ebur128``: pyloudnorm wants the whole file as float64 in memory (6.5 GB
for an hour), and ``ebur128`` is slower than decoding. Here WAV/FLAC/AIFF/Ogg are read in-process with
libsndfile, everything else is decoded by ffmpeg to a WAV pipe, always at the file's own rate, and
``dsp.LoudnessMeter`` measures it block by block (K-weighted power per 100 ms sub-block in the frequency
domain, 400 ms gating blocks, absolute -70 LUFS and relative -10 LU gates).

Memory is one 4-second chunk plus one float per 100 ms of audio (about 3 MB for ten hours).
"""

from __future__ import annotations

import math
import os
import re
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.dsp import LoudnessMeter
from companion.errors import AudioFileError, ToolMissingError
from companion.media.decode import ffmpeg_path

CHUNK_S = 4.0

LONG_FILE_S = 20 * 60.0     # files longer than this are first measured on their opening only ...
PARTIAL_ANALYSIS_S = 5 * 60.0  # ... this much of it (the cache row is marked partial)
SILENT_BELOW_LUFS = -70.0   # the absolute gate: a track with nothing above it is silence, not music
TRUNCATED_RATIO = 0.9       # decoding yields less than this share of the stated duration -> truncated


@dataclass(frozen=True)
class Analysis:
    duration_s: float
    loudness_lufs: float
    peak_db: float        # sample peak, dBFS, at the source rate (ffmpeg: the higher of ours and volumedetect's)
    partial: bool         # True when only the first PARTIAL_ANALYSIS_S of a long file were measured


_DURATION_RE = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_MAX_VOLUME_RE = re.compile(r"max_volume: (-?[\d.]+|-inf) dB")
_NOISE_RE = re.compile(r"^\s|^(Input|Output|Stream mapping|size=|video:|\[Parsed_volumedetect)")


class _StderrReader(threading.Thread):
    """Drains ffmpeg's stderr (so it can never block) and picks out the container duration."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self.lines: list[str] = []
        self.stated_duration_s: float | None = None

    def run(self) -> None:
        for raw in self._stream:
            line = raw.decode("utf-8", "replace").rstrip()
            if self.stated_duration_s is None and (m := _DURATION_RE.search(line)):
                h, mnt, s = m.groups()
                self.stated_duration_s = int(h) * 3600 + int(mnt) * 60 + float(s)
            if len(self.lines) < 2000:
                self.lines.append(line)

    def reason(self, path: Path) -> str:
        """The most telling line of ffmpeg's complaint, without the file name it starts with."""
        candidates = [ln for ln in self.lines if ln and not _NOISE_RE.match(ln)]
        if not candidates:
            return "ffmpeg could not decode it"
        for line in reversed(candidates):
            if re.search(r"error|invalid|fail|unsupported|no such|matches no streams|denied", line, re.I):
                break
        else:
            line = candidates[-1]
        line = re.sub(r"^\[[^\]]*\]\s*", "", line)
        for prefix in (f"file:{path}: ", f"{path}: "):
            line = line.replace(prefix, "")
        line = line.strip().rstrip(".")
        if "matches no streams" in line:
            return "no audio stream in it"
        if line in ("Invalid argument", "Invalid data found when processing input"):
            return f"not audio, or damaged: ffmpeg says {line!r}"
        return line


def analyse_file(path: Path, *, full: bool = False) -> Analysis:
    """Decode ``path`` once and measure duration, loudness and peak.

    WAV, FLAC, AIFF and Ogg files are read in-process with libsndfile at their own rate (no process
    start: a 3-second file takes milliseconds); everything else, and anything libsndfile refuses, goes
    through ffmpeg at the file's own rate. Long files (over LONG_FILE_S) are measured on their first
    PARTIAL_ANALYSIS_S only, unless ``full``: the result is then marked ``partial`` and its duration is
    the container's. Raises AudioFileError naming the file and why; ToolMissingError when ffmpeg is missing.
    """
    path = Path(os.path.abspath(path))
    _check_readable(path)
    measured = _read_in_process(path, full) or _read_with_ffmpeg(path, full)
    meter, stated, partial, peak_db = measured
    decoded_s = meter.duration_s
    loudness_lufs = meter.integrated_lufs()
    if loudness_lufs <= SILENT_BELOW_LUFS:
        raise AudioFileError(f"{path}: silent (nothing above {SILENT_BELOW_LUFS:.0f} LUFS"
                             f"{' in its first minutes' if partial else ''})")
    if not partial and stated and decoded_s < TRUNCATED_RATIO * stated and stated - decoded_s > 1.0:
        raise AudioFileError(f"{path}: truncated (it says {stated:.1f} s but only {decoded_s:.1f} s decode)")
    return Analysis(duration_s=stated if partial else decoded_s, loudness_lufs=loudness_lufs,
                    peak_db=peak_db, partial=partial)


_Measured = tuple[LoudnessMeter, "float | None", bool, float]   # meter, stated duration, partial, peak dB
IN_PROCESS_FORMATS = frozenset({"WAV", "WAVEX", "W64", "RF64", "FLAC", "AIFF", "OGG"})


def _read_in_process(path: Path, full: bool) -> _Measured | None:
    """Measure with libsndfile, or None to leave the file to ffmpeg (other formats, any doubt)."""
    try:
        import soundfile
    except (ImportError, OSError):
        return None
    try:
        with soundfile.SoundFile(str(path)) as sound:
            if sound.format not in IN_PROCESS_FORMATS or not 1 <= sound.channels <= 2 or sound.frames <= 0:
                return None
            rate_hz = sound.samplerate
            stated = sound.frames / rate_hz
            limit = None if full or stated <= LONG_FILE_S else int(PARTIAL_ANALYSIS_S * rate_hz)
            meter = LoudnessMeter(rate_hz, 2)
            for block in sound.blocks(blocksize=int(CHUNK_S * rate_hz), dtype="float32", always_2d=True):
                meter.add(block if block.shape[1] == 2 else np.repeat(block, 2, axis=1))
                if limit is not None and meter.frames >= limit:
                    return meter, stated, True, _db(meter.peak)
    except (RuntimeError, OSError, ValueError):   # soundfile.LibsndfileError is a RuntimeError
        return None
    if meter.frames == 0:
        return None
    return meter, stated, False, _db(meter.peak)


def _read_with_ffmpeg(path: Path, full: bool) -> _Measured:
    # A WAV stream at the file's own rate: its header says the rate, and nothing is resampled (measuring
    # at a reduced rate would miss the energy above its Nyquist frequency: bright music read 1-5 dB low).
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
               "-i", f"file:{path}", "-map", "0:a:0", "-af", "volumedetect",
               "-ac", "2", "-c:a", "pcm_f32le", "-f", "wav", "-"]
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError as err:
        raise ToolMissingError(f"ffmpeg could not be started: {err}",
                               hint="run scripts/install-system.sh") from err
    stderr = _StderrReader(proc.stderr)
    stderr.start()
    partial = False
    meter: LoudnessMeter | None = None
    try:
        rate_hz = _wav_stream_rate(proc.stdout)
        if rate_hz:
            meter = LoudnessMeter(rate_hz, 2)
            chunk_bytes = int(CHUNK_S * rate_hz) * 2 * 4
            limit_frames = int(PARTIAL_ANALYSIS_S * rate_hz)
            carry = b""
            while True:
                data = proc.stdout.read(chunk_bytes)
                if not data:
                    break
                data = carry + data
                usable = len(data) - len(data) % 8
                carry = data[usable:]
                meter.add(np.frombuffer(data[:usable], dtype="<f4").reshape(-1, 2))
                stated = stderr.stated_duration_s
                if not full and meter.frames >= limit_frames and stated is not None and stated > LONG_FILE_S:
                    partial = True
                    proc.kill()
                    break
    finally:
        proc.stdout.close()
        returncode = proc.wait()
        stderr.join(timeout=5)
    if meter is None:
        meter = LoudnessMeter(48_000, 2)
    if not partial and returncode != 0:
        raise AudioFileError(f"{path}: cannot decode ({stderr.reason(path)})")
    if meter.frames == 0:
        raise AudioFileError(f"{path}: no audio could be decoded from it")
    return meter, stderr.stated_duration_s, partial, _peak_db(meter.peak, stderr.lines)


def _wav_stream_rate(stream) -> int | None:
    """Read a streamed WAV header up to its data chunk; return the sample rate (None if there is none)."""
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    rate = None
    while True:
        chunk = stream.read(8)
        if len(chunk) < 8:
            return None
        kind, size = chunk[:4], int.from_bytes(chunk[4:8], "little")
        if kind == b"data":
            return rate
        body = stream.read(size + (size & 1))
        if kind == b"fmt " and len(body) >= 8:
            rate = int.from_bytes(body[4:8], "little")


def _check_readable(path: Path) -> None:
    try:
        if not stat.S_ISREG(path.stat().st_mode) and not path.is_dir():
            raise AudioFileError(f"{path}: not a regular file (a pipe or device cannot be analysed)")
        with open(path, "rb") as handle:
            first = handle.read(1)
    except FileNotFoundError as err:
        raise AudioFileError(f"{path}: file not found") from err
    except IsADirectoryError as err:
        raise AudioFileError(f"{path}: is a folder, not an audio file") from err
    except PermissionError as err:
        raise AudioFileError(f"{path}: cannot read it (permission denied)") from err
    except OSError as err:
        raise AudioFileError(f"{path}: cannot read it ({err.strerror or err})") from err
    if not first:
        raise AudioFileError(f"{path}: empty file (0 bytes)")


def _db(peak: float) -> float:
    return 20.0 * math.log10(peak) if peak > 0 else -120.0


def _peak_db(analysis_peak: float, stderr_lines: list[str]) -> float:
    """The higher of the meter's sample peak and ffmpeg's (volumedetect); both at the file's own rate."""
    peaks_db = [_db(analysis_peak)]
    for line in stderr_lines:
        if (m := _MAX_VOLUME_RE.search(line)) and m.group(1) != "-inf":
            peaks_db.append(float(m.group(1)))
    return max(peaks_db)
