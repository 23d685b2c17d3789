"""Decoding: short clips in-process, music streamed through an ffmpeg pipe.

Short clips (narration, chimes) are decoded in-process with libsndfile (soundfile) — starting one ffmpeg
process per clip costs ~75 ms — and resampled with soxr. Formats libsndfile cannot read (m4a/aac, wma)
fall back to pydub, which runs ffmpeg once for the clip.

Music of any length streams through ``ffmpeg -f f32le -ac 2 -ar RATE -`` (resampled by ffmpeg's swr):
memory stays bounded, the first block arrives in tens of milliseconds, and decoding runs on another core
in parallel with the mixer. The pipe is enlarged (up to 1 MiB, ~2.7 s of audio) so ffmpeg can run ahead,
and the mixer reads it straight into its arrays. The next track's decoder can ``prefill`` a bounded buffer
on a worker thread, so two decoders overlap at every track change.
"""

from __future__ import annotations

import array
import fcntl
import shutil
import subprocess
import termios
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from companion import CHANNELS, dsp
from companion.errors import AudioFileError, ToolMissingError

_F_SETPIPE_SZ = 1031
_FRAME_BYTES = 4 * CHANNELS
_PREFILL_CHUNK = 1 << 17      # frames read per step of prefill (1 MiB): how soon a stop request is seen


def ffmpeg_path() -> str:
    """The ffmpeg executable, or a ToolMissingError that says how to install it."""
    found = shutil.which("ffmpeg")
    if not found:
        raise ToolMissingError(
            "ffmpeg is not installed; companion needs it to read music and write mp3/ogg files",
            hint="run scripts/install-system.sh, or: apt-get install ffmpeg (Debian/Ubuntu), brew install ffmpeg (macOS)",
        )
    return found


def clip_frames(path: Path, rate_hz: int) -> int:
    """Length of a clip in frames at ``rate_hz``, from its header when possible (no full decode)."""
    import soundfile

    try:
        info = soundfile.info(str(path))
        if info.frames > 0:
            return int(round(info.frames * rate_hz / info.samplerate))
    except Exception:  # noqa: BLE001 - any libsndfile refusal means "decode it instead"
        pass
    return len(load_clip(path, rate_hz))


def load_clip(path: Path, rate_hz: int) -> np.ndarray:
    """Decode a short clip to float32 stereo at ``rate_hz``. Raises AudioFileError naming the file."""
    data, file_rate = read_clip(path)
    return to_engine(data, file_rate, rate_hz)


def read_clip(path: Path) -> tuple[np.ndarray, int]:
    """A short clip as it is in the file: float32 ``(frames, channels)`` and its sample rate."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: file not found")
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001 - libsndfile cannot read it; try ffmpeg through pydub
        data, file_rate = _load_with_pydub(path)
    if len(data) == 0:
        raise AudioFileError(f"{path}: the file holds no audio")
    return data, int(file_rate)


def to_engine(data: np.ndarray, file_rate: int, rate_hz: int) -> np.ndarray:
    """A clip from ``read_clip`` as engine audio: stereo at ``rate_hz`` (mono is resampled once, then
    copied to both sides)."""
    if data.shape[1] <= 2:
        return dsp.to_stereo(dsp.resample(data, file_rate, rate_hz))
    return dsp.resample(dsp.to_stereo(data), file_rate, rate_hz)


def _load_with_pydub(path: Path) -> tuple[np.ndarray, int]:
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    ffmpeg_path()
    try:
        segment = AudioSegment.from_file(str(path))
    except (CouldntDecodeError, IndexError, OSError) as err:
        raise AudioFileError(f"{path}: not a readable audio file") from err
    scale = float(1 << (8 * segment.sample_width - 1))
    samples = np.array(segment.get_array_of_samples(), dtype=np.float32) / scale
    return samples.reshape(-1, segment.channels), segment.frame_rate


class FrameFifo:
    """Frames in arrival order, taken from the front without re-copying what stays behind."""

    def __init__(self) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self._head = 0          # frames already taken from the first chunk
        self.frames = 0

    def __len__(self) -> int:
        return self.frames

    def push(self, block: np.ndarray) -> None:
        if len(block):
            self._chunks.append(block)
            self.frames += len(block)

    def take(self, frames: int, out: np.ndarray) -> int:
        """Copy up to ``frames`` frames into ``out``; return how many were copied."""
        done = 0
        while done < frames and self._chunks:
            chunk = self._chunks[0]
            n = min(frames - done, len(chunk) - self._head)
            out[done: done + n] = chunk[self._head: self._head + n]
            done += n
            self._head += n
            if self._head == len(chunk):
                self._chunks.popleft()
                self._head = 0
        self.frames -= done
        return done

    def take_array(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames (fewer if it holds fewer) as an array the caller may change: a view
        of the first chunk when it holds them all (the usual case: no copy), else a fresh copy."""
        if self._chunks and len(self._chunks[0]) - self._head >= frames:
            chunk = self._chunks[0]
            out = chunk[self._head: self._head + frames]
            self._head += frames
            self.frames -= frames
            if self._head == len(chunk):
                self._chunks.popleft()
                self._head = 0
            return out
        out = np.empty((min(frames, self.frames), CHANNELS), np.float32)
        self.take(len(out), out)
        return out

    def drain(self) -> np.ndarray:
        """Everything left, as one array (used at track ends only)."""
        out = np.empty((self.frames, CHANNELS), np.float32)
        self.take(self.frames, out)
        return out


class StreamDecoder:
    """One music file decoded by an ffmpeg child process into float32 stereo frames, read in blocks.

    The process starts at construction so that it can decode ahead while the previous track plays.
    ``read(frames)`` returns up to ``frames`` frames and an empty array at the end. ``error`` holds
    ffmpeg's complaint once the stream has ended badly. Always ``close()`` (or use ``with``).
    """

    def __init__(self, path: Path, rate_hz: int, *, start_s: float = 0.0) -> None:
        self.path = Path(path)
        self.rate_hz = rate_hz
        self.error: str | None = None
        self._stderr_chunks: list[bytes] = []
        command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
        if start_s > 0:
            command += ["-ss", f"{start_s:.3f}"]
        command += [
            # "file:" keeps names with a leading dash or a colon from being read as options or protocols.
            "-i", "file:" + str(self.path.resolve()),
            "-map", "0:a:0", "-vn", "-sn", "-dn",
            # ffmpeg's own polyphase resampler (swr): 98 dB SNR on a 1 kHz + 15 kHz test, the 16-bit floor,
            # for 60 % of soxr's CPU (soxr: 134 dB). Decoding is the render's bottleneck (2 cores).
            "-af", "aresample=resampler=swr",
            "-ac", str(CHANNELS), "-ar", str(rate_hz), "-f", "f32le", "-",
        ]
        try:
            self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, bufsize=0)
        except OSError as err:
            raise AudioFileError(f"{self.path}: cannot start ffmpeg: {err.strerror}") from err
        try:
            self._pipe_bytes = fcntl.fcntl(self._proc.stdout.fileno(), _F_SETPIPE_SZ, 1 << 20)
        except OSError:
            self._pipe_bytes = 1 << 16  # the default 64 KiB pipe still works, with less read-ahead
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        self._carry = b""
        self._ended = False
        self._ahead = FrameFifo()   # frames prefilled on a worker thread, read first

    def _drain_stderr(self) -> None:
        for chunk in iter(lambda: self._proc.stderr.read(4096), b""):
            if sum(map(len, self._stderr_chunks)) < 16384:
                self._stderr_chunks.append(chunk)

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames (a writable array the caller owns); fewer only at the end of the stream.
        Prefilled frames come first (a view of a prefilled chunk when one covers the request)."""
        if not self._ahead:
            return self._read_pipe(frames)
        out = self._ahead.take_array(frames)
        if len(out) < frames:   # the prefill runs out inside this request: the rest from the pipe
            out = np.concatenate([out, self._read_pipe(frames - len(out))])
        return out

    def prefill(self, frames: int, stop: threading.Event) -> None:
        """Decode up to ``frames`` frames ahead into memory, until ``stop`` is set.

        Called on a worker thread right after opening the next track, before anyone reads: while the
        current track plays, the next one's ffmpeg works on the other core instead of waiting on a full
        pipe, so the two decoders overlap at every track change.
        """
        while self._ahead.frames < frames and not self._ended and not stop.is_set():
            want = min(_PREFILL_CHUNK, frames - self._ahead.frames)
            self._await_pipe(want * _FRAME_BYTES, stop)
            self._ahead.push(self._read_pipe(want))

    def _await_pipe(self, nbytes: int, stop: threading.Event) -> None:
        """Sleep until the pipe holds ``nbytes`` (or 3/4 of what it can hold), ffmpeg has exited, or
        ``stop`` is set. A blocking read returns at each of ffmpeg's 32 KiB writes: two context switches
        per write, for a read that is in no hurry; polling every 0.5 ms lets ffmpeg fill the pipe first."""
        fd = self._proc.stdout.fileno()
        nbytes = min(nbytes, self._pipe_bytes * 3 // 4)
        count = array.array("i", [0])
        while not stop.is_set() and self._proc.poll() is None:
            try:
                fcntl.ioctl(fd, termios.FIONREAD, count)
            except OSError:
                return
            if count[0] >= nbytes:
                return
            time.sleep(0.0005)

    def _read_pipe(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames straight from the pipe into a fresh array (one copy, by the kernel)."""
        out = np.empty((frames, CHANNELS), np.float32)
        if self._ended:
            return out[:0]
        view = memoryview(out).cast("B")
        filled = len(self._carry)
        view[:filled] = self._carry
        pipe = self._proc.stdout
        while filled < len(view):
            try:
                got = pipe.readinto(view[filled:])
            except OSError:
                got = 0
            if not got:
                self._finish()
                break
            filled += got
        usable = filled - filled % _FRAME_BYTES
        self._carry = bytes(view[usable:filled])
        return out[: usable // _FRAME_BYTES]

    def _finish(self) -> None:
        self._ended = True
        code = self._proc.wait()
        self._stderr_thread.join(timeout=2.0)
        if code != 0:
            text = b"".join(self._stderr_chunks).decode("utf-8", "replace").strip().splitlines()
            self.error = _short_reason(text[-1] if text else f"ffmpeg exited with status {code}")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self) -> "StreamDecoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short_reason(line: str) -> str:
    """ffmpeg's last error line, without the file path prefix it repeats."""
    reason = line.split(": ", 1)[-1] if line.startswith("file:") else line
    return reason.strip() or "unreadable"
