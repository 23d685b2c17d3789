"""Decoding, the one way companion reads audio: short clips in-process, everything else through ffmpeg.

Short clips (narration, chimes) are decoded in-process with libsndfile (soundfile) — starting one ffmpeg
process per clip costs ~75 ms — and resampled with soxr. Formats libsndfile cannot read (m4a/aac, wma)
fall back to pydub, which runs ffmpeg once for the clip.

Music of any length streams through ``ffmpeg -f f32le -ac 2 -ar RATE -`` (resampled by ffmpeg's swr):
memory stays bounded, the first block arrives in tens of milliseconds, and decoding runs on another core
in parallel with the mixer. The pipe is enlarged (up to 1 MiB, ~2.7 s of audio) so ffmpeg can run ahead,
and the mixer reads it straight into its arrays. The next track's decoder can ``prefill`` a bounded buffer
on a worker thread, so two decoders overlap at every track change.

Every ffmpeg child is started by ``FfmpegProcess`` (the same input options, ``file:`` names, stderr drained
on a thread so it can never block) and its complaint becomes one line by ``FfmpegLog.reason``: the music
stream, loudness analysis (``loudness.analyse_file``, a WAV stream at the file's own rate) and nothing else.
"""

from __future__ import annotations

import array
import fcntl
import re
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
from companion.terminal.console import quiet_c_stderr

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
        with quiet_c_stderr():            # libmpg123 notes on a damaged mp3 go to fd 2
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
        with quiet_c_stderr():            # libmpg123 notes on a damaged mp3 go to fd 2
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


_DURATION_RE = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_NOISE_RE = re.compile(r"^\s|^(Input|Output|Stream mapping|size=|video:|\[Parsed_volumedetect)")
_ERROR_WORDS_RE = re.compile(r"error|invalid|fail|unsupported|no such|matches no streams|denied", re.I)
_MAX_LOG_LINES = 2000


class FfmpegLog(threading.Thread):
    """Drains an ffmpeg child's stderr (so the child never blocks on it), keeps its lines and picks out the
    container's stated duration; ``reason()`` turns the complaint into one line for a person.

    The thread owns the stream: it alone reads and closes it, once the child's end is closed (the child
    has exited). Closing it from another thread raced with a read in progress: EBADF in this thread, or
    a read from whatever file had just been given the same descriptor number.
    """

    def __init__(self, stream, path: Path) -> None:
        super().__init__(daemon=True, name="ffmpeg-stderr")
        self._stream = stream
        self._path = path
        self.lines: list[str] = []
        self.stated_duration_s: float | None = None

    def run(self) -> None:
        try:
            for raw in self._stream:
                line = raw.decode("utf-8", "replace").rstrip()
                if self.stated_duration_s is None and (m := _DURATION_RE.search(line)):
                    h, mnt, s = m.groups()
                    self.stated_duration_s = int(h) * 3600 + int(mnt) * 60 + float(s)
                if len(self.lines) < _MAX_LOG_LINES:
                    self.lines.append(line)
        finally:
            self._stream.close()

    def reason(self, exit_code: int | None = None) -> str:
        """The most telling line of ffmpeg's complaint, without the file name it starts with."""
        candidates = [ln for ln in self.lines if ln and not _NOISE_RE.match(ln)]
        if not candidates:
            return "ffmpeg could not decode it" + (f" (exit status {exit_code})" if exit_code else "")
        for line in reversed(candidates):
            if _ERROR_WORDS_RE.search(line):
                break
        else:
            line = candidates[-1]
        line = re.sub(r"^\[[^\]]*\]\s*", "", line)
        for prefix in (f"file:{self._path}: ", f"{self._path}: "):
            line = line.replace(prefix, "")
        line = line.strip().rstrip(".")
        if "matches no streams" in line:
            return "no audio stream in it"
        if line in ("Invalid argument", "Invalid data found when processing input"):
            return f"not audio, or damaged: ffmpeg says {line!r}"
        return line


class FfmpegProcess:
    """One ffmpeg child decoding the first audio stream of one file to its stdout.

    ``output_args`` say how (e.g. ``-f f32le -``); the input side is always the same: no stdin, no banner,
    ``file:`` + the absolute path (so a name with a leading dash or a colon is never read as an option or
    a protocol), audio only. ``finish()`` waits and returns None or the one-line reason it failed.
    Raises ToolMissingError when ffmpeg is missing or cannot be started.
    """

    def __init__(self, path: Path, output_args: list[str], *, start_s: float = 0.0, loglevel: str = "error",
                 bufsize: int = 0) -> None:
        self.path = Path(path).resolve()
        command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", loglevel]
        if start_s > 0:
            command += ["-ss", f"{start_s:.3f}"]
        command += ["-i", "file:" + str(self.path), "-map", "0:a:0", "-vn", "-sn", "-dn", *output_args]
        try:
            # start_new_session: a Ctrl-C typed at the terminal is companion's to handle (a fade-out, a
            # clean stop between blocks); in our process group it would kill the decoder mid-track first.
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, bufsize=bufsize, start_new_session=True)
        except OSError as err:
            raise ToolMissingError(f"ffmpeg could not be started ({err.strerror or err})",
                                   hint="run scripts/install-system.sh") from err
        self.stdout = self.proc.stdout
        self.log = FfmpegLog(self.proc.stderr, self.path)
        self.log.start()

    def finish(self) -> str | None:
        """Wait for the child; None when it succeeded, else why it failed (one line)."""
        code = self.proc.wait()
        self.log.join(timeout=5.0)
        return None if code == 0 else self.log.reason(code)

    def close(self) -> None:
        """Stop the child if it still runs, close its stdout and wait for the stderr reader, which closes
        stderr itself at the end of the dead child's output (see ``FfmpegLog``). Safe to call more than once."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        self.log.join(timeout=5.0)


def wav_stream_rate(stream) -> int | None:
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
        self._ffmpeg = FfmpegProcess(path, [
            # ffmpeg's own polyphase resampler (swr): 98 dB SNR on a 1 kHz + 15 kHz test, the 16-bit floor,
            # for 60 % of soxr's CPU (soxr: 134 dB). Decoding is the render's bottleneck (2 cores).
            "-af", "aresample=resampler=swr",
            "-ac", str(CHANNELS), "-ar", str(rate_hz), "-f", "f32le", "-",
        ], start_s=start_s)
        self._proc = self._ffmpeg.proc
        try:
            self._pipe_bytes = fcntl.fcntl(self._proc.stdout.fileno(), _F_SETPIPE_SZ, 1 << 20)
        except OSError:
            self._pipe_bytes = 1 << 16  # the default 64 KiB pipe still works, with less read-ahead
        self._carry = b""
        self._ended = False
        self._ahead = FrameFifo()   # frames prefilled on a worker thread, read first
        # Held for each read and each prefill step: ``keep_ahead`` fills while the owner reads.
        self._lock = threading.Lock()

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames (a writable array the caller owns); fewer only at the end of the stream.
        Prefilled frames come first (a view of a prefilled chunk when one covers the request)."""
        with self._lock:
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
            self._prefill_step(min(_PREFILL_CHUNK, frames - self._ahead.frames), stop)

    def keep_ahead(self, frames: int, stop: threading.Event) -> None:
        """Keep up to ``frames`` frames decoded ahead of the reader, who reads meanwhile, until the
        stream ends or ``stop`` is set.

        For an offline render, on the worker thread once the next track is prefilled: the playing track's
        ffmpeg then decodes whenever a core is free, instead of only when the mixer reaches the part of the
        track that was not prefilled and waits for it. Frames keep their order (reads and fill steps hold
        the same lock; a step appends what the pipe gave after everything read before). Checks the fill
        every 2 ms while full; meant for renders, not for live playback, which reads at the speed of sound.
        """
        while not self._ended and not stop.is_set():
            room = frames - self._ahead.frames
            if room < _PREFILL_CHUNK // 2:
                stop.wait(0.002)
                continue
            self._prefill_step(min(_PREFILL_CHUNK, room), stop)

    def _prefill_step(self, want: int, stop: threading.Event) -> None:
        """Read up to ``want`` frames into the prefill once the pipe holds them (or ffmpeg has ended):
        no more than the pipe holds then, so the lock is never held waiting for ffmpeg."""
        available = self._await_pipe(want * _FRAME_BYTES, stop)
        if available is not None and available < _FRAME_BYTES:
            return      # stopped, or the reader emptied the pipe meanwhile
        with self._lock:
            if not self._ended:
                self._ahead.push(self._read_pipe(want if available is None else min(want, available // _FRAME_BYTES)))

    def _await_pipe(self, nbytes: int, stop: threading.Event) -> int | None:
        """Sleep until the pipe holds ``nbytes`` (or 3/4 of what it can hold), ffmpeg has exited, or
        ``stop`` is set; return the bytes the pipe holds (None once ffmpeg has exited: read to the end).
        A blocking read returns at each of ffmpeg's 32 KiB writes: two context switches per write, for a
        read that is in no hurry; polling every 0.5 ms lets ffmpeg fill the pipe first."""
        fd = self._proc.stdout.fileno()
        nbytes = min(nbytes, self._pipe_bytes * 3 // 4)
        count = array.array("i", [0])
        while self._proc.poll() is None:
            try:
                fcntl.ioctl(fd, termios.FIONREAD, count)
            except OSError:
                return None
            if count[0] >= nbytes or stop.is_set():
                return count[0]
            time.sleep(0.0005)
        return None

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
        self.error = self._ffmpeg.finish()

    def close(self) -> None:
        self._ffmpeg.close()

    def __enter__(self) -> "StreamDecoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
