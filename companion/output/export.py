"""Writing a session to a file: wav, flac, mp3 or ogg, with chapter marks for each step.

The session is rendered block by block straight into the encoder (libsndfile for wav/flac, an ffmpeg pipe
for mp3/ogg), so memory stays flat whatever the length. The file is written under a temporary name in the
destination folder and renamed only once complete: an error or Ctrl-C never leaves a half-written file.

Chapters let a phone player jump to a step: ID3 CHAP/CTOC frames in mp3, CHAPTERnnn Vorbis comments in
ogg and flac, and a ``.cue`` sheet beside a wav.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion import CHANNELS
from companion.errors import BadInputError, CompanionError
from companion.mix.session import Session
from companion.media.decode import ffmpeg_path
from companion.output.destination import partial_name, sidecar_of, sweep_stale_partials
from companion.output.interrupts import StopFlag, deferred_interrupts
from companion.terminal.text import visible

FORMATS = ("wav", "flac", "mp3", "ogg")
ARTIST = "companion"
BLOCK_FRAMES = 96_000   # 2 s blocks offline: half the per-block Python work and thread hand-offs of 1 s blocks

# How much of the playing track the music worker keeps decoded ahead of the mixer (48 kHz: 33 MiB), once
# the next track is prefilled: at most what the prefill itself holds, so the peak memory stays the same.
DECODE_AHEAD_S = 90.0

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Chapter:
    start_s: float
    title: str


@dataclass(frozen=True)
class Rendered:
    path: Path
    seconds: float
    chapters: tuple[Chapter, ...]
    sidecar: Path | None = None


def output_format(path: Path) -> str:
    """The format named by ``path``'s extension, or a BadInputError listing the allowed ones.

    The folder must exist and be writable: a render that would fail at its end fails here, before any work.
    """
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise BadInputError(f"cannot write '{path.name}': unknown format '{path.suffix or '(none)'}'",
                            hint=f"use one of: {', '.join('.' + f for f in FORMATS)}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise BadInputError(f"cannot write '{path}': folder {folder} does not exist",
                            hint="create it first or choose another -o path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInputError(f"cannot write '{visible(path)}': folder {visible(folder)} is not writable",
                            hint="choose another -o folder")
    return fmt


def chapters_of(session: Session) -> tuple[Chapter, ...]:
    """One chapter per step; titles come from a routine file, so their control characters are made
    visible (a newline in a title must not add a line to a .cue sheet or a tag)."""
    return tuple(Chapter(mark.start / session.rate_hz, visible(mark.title)) for mark in session.timeline.steps)


def render_to_file(session: Session, path: Path, *, progress: Progress | None = None, seed: int = 0,
                   block_frames: int = BLOCK_FRAMES) -> Rendered:
    """Render the whole session into ``path`` (format from the extension), atomically.

    The file (and a WAV's ``.cue``) appear only complete: until the rename, the old file, if any, is
    untouched. Ctrl-C/SIGTERM stop between blocks (KeyboardInterrupt, see ``interrupts``); a full disk or
    an unwritable folder is one CompanionError naming the file. Temporary files that killed renders left
    in the folder are removed first (``destination.sweep_stale_partials``).
    """
    path = Path(path)
    fmt = output_format(path)
    keep_freed_memory_for_reuse()
    if session.mixer.music is not None:     # no one listens in real time: let decoders run ahead
        session.mixer.music.decode_ahead_s = DECODE_AHEAD_S
    sweep_stale_partials(path.parent if str(path.parent) else Path("."))
    tmp = partial_name(path)
    sidecar = sidecar_of(path)
    tmp_cue = partial_name(sidecar) if sidecar is not None else None
    try:
        with deferred_interrupts() as stop:
            try:
                chapters = chapters_of(session)
                frames = _write(session, tmp, fmt, progress=progress, seed=seed, block_frames=block_frames,
                                chapters=chapters, stop=stop)
                if fmt in ("flac", "ogg"):
                    _tag_chapter_comments(tmp, fmt, session.name, chapters)
                if tmp_cue is not None:
                    tmp_cue.write_text(cue_sheet(path.name, chapters), encoding="utf-8")
            except OSError as err:
                raise _write_failure(err, path) from err
            stop.check()        # the last moment to stop: after the renames the new file is whole
            try:
                os.replace(tmp, path)
                if tmp_cue is not None:
                    os.replace(tmp_cue, sidecar)
            except OSError as err:
                raise _write_failure(err, path) from err
    finally:
        tmp.unlink(missing_ok=True)
        if tmp_cue is not None:
            tmp_cue.unlink(missing_ok=True)
        session.close()
    return Rendered(path, frames / session.rate_hz, chapters, sidecar)


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_REUSE_BELOW_BYTES = 64 << 20     # blocks (384 KB), pipe reads, prefill chunks (1 MiB): far below this
_TRIM_ABOVE_BYTES = 256 << 20


def keep_freed_memory_for_reuse() -> bool:
    """Ask glibc to keep freed buffers of up to 64 MiB for the next allocation instead of returning them to
    the system; True when it was asked (glibc only; elsewhere nothing changes).

    A render allocates its buffers anew every block (decoded music, the limiter's window, the 16-bit
    samples) and 64 MiB of prefilled music per track. By default glibc maps buffers of this size from the
    system and unmaps them when freed, or trims the freed top of its heap, so the next block's buffers
    fault their pages in again: ~70,000 page faults and 0.3-0.5 s of kernel time in a 60-min render
    (halved this way; peak RSS did not grow). Offline only: a render is its own short-lived process.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):       # not loadable, or a C library without mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _REUSE_BELOW_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE_BYTES))


_DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_NOT_ALLOWED = (errno.EACCES, errno.EPERM, errno.EROFS)


def _write_failure(err: OSError, path: Path) -> CompanionError:
    """One line for an OSError met while writing ``path``: disk full, not allowed, or the system's words."""
    folder = path.parent if str(path.parent) else Path(".")
    if err.errno in _DISK_FULL:
        return CompanionError(f"cannot write '{visible(path)}': not enough space on the disk ({err.strerror}); "
                              "nothing was written", hint=f"free some space in {visible(folder)} or choose another -o")
    if err.errno in _NOT_ALLOWED:
        return BadInputError(f"cannot write '{visible(path)}': {err.strerror}; nothing was written",
                             hint="choose another -o folder")
    return CompanionError(f"cannot write '{visible(path)}': {err.strerror or err}; nothing was written")


class _CheckedFile:
    """The file object libsndfile writes through, keeping the first OSError instead of raising it.

    libsndfile calls ``write``/``seek``/``tell`` from cffi callbacks, where a Python exception cannot
    propagate (cffi prints "Exception ignored from cffi callback" and libsndfile goes on with a short
    write). Here a failure is kept, the callback reports nothing written, and ``raise_kept`` raises the
    OSError from plain code right after the soundfile call.
    """

    def __init__(self, raw) -> None:
        self._raw = raw
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.error is not None:
            return 0
        try:
            return self._raw.write(data)
        except OSError as err:
            self.error = err
            return 0

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def readinto(self, buffer) -> int:
        return self._raw.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def flush(self) -> None:
        try:
            self._raw.flush()
        except OSError as err:
            self.error = self.error or err

    def raise_kept(self) -> None:
        if self.error is not None:
            raise self.error


def _write(session: Session, tmp: Path, fmt: str, *, progress: Progress | None, seed: int,
           block_frames: int, stop: StopFlag, chapters: tuple[Chapter, ...] = ()) -> int:
    block = np.zeros((block_frames, CHANNELS), np.float32)
    if fmt in ("wav", "flac"):
        import soundfile

        dither = Dither(seed)
        subtype = "PCM_16" if fmt == "wav" else "PCM_24"
        # libsndfile writes through our file object: given a path, its close() fsyncs, which stalls the
        # end of a 60-min WAV render ~0.4 s (691 MB to disk). The rename is what makes the file appear
        # whole; like ffmpeg and other audio tools, durability is left to the filesystem.
        with open(tmp, "w+b") as raw:
            handle = _CheckedFile(raw)
            out = soundfile.SoundFile(handle, "w", samplerate=session.rate_hz, channels=CHANNELS,
                                      subtype=subtype, format=fmt.upper())
            out.title, out.artist = session.name, ARTIST        # WAV: a LIST/INFO chunk; FLAC: comments
            convert = (lambda audio, first: dither.to_int16(audio, first)) if fmt == "wav" else \
                      (lambda audio, first: audio)

            def sink(audio: np.ndarray, first: int) -> None:
                try:
                    out.write(convert(audio, first))
                except AssertionError:      # soundfile's check of a short write: the kept error says why
                    handle.raise_kept()
                    raise
                handle.raise_kept()

            try:
                done = _pump(session, block, sink, progress, stop)
            finally:
                out.close()             # rewrites the header through ``handle``
            handle.raise_kept()
            raw.flush()
            return done
    codec = ["-c:a", "libmp3lame", "-q:a", "2", "-f", "mp3"] if fmt == "mp3" else \
            ["-c:a", "libvorbis", "-q:a", "5", "-f", "ogg"]
    # Title, artist and chapters go in through an ffmetadata input, so ffmpeg writes them while it encodes:
    # ID3 CHAP frames in step order (mutagen ordered them by size). FFmpeg 5's Ogg muxer drops chapters:
    # an Ogg file gets them from _tag_chapter_comments.
    meta = tmp.with_name(tmp.name + ".meta")
    meta.write_text(ffmetadata(session.name, chapters, session.timeline.end / session.rate_hz), encoding="utf-8")
    command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "f32le", "-ar", str(session.rate_hz), "-ac", str(CHANNELS), "-i", "-",
               "-f", "ffmetadata", "-i", "file:" + str(meta.resolve()),
               "-map", "0:a", "-map_metadata", "1", "-map_chapters", "1",
               *codec, "file:" + str(tmp.resolve())]
    try:
        # Its own session: a Ctrl-C typed at the terminal reaches companion, which stops between blocks,
        # not the encoder in the middle of a write (that would read as "ffmpeg failed").
        encoder = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
    except BaseException:
        meta.unlink(missing_ok=True)
        raise
    try:
        done = _pump(session, block, lambda audio, first: encoder.stdin.write(audio.tobytes()), progress,
                     stop)
        encoder.stdin.close()
        stderr = encoder.stderr.read().decode("utf-8", "replace").strip()
        if encoder.wait() != 0:
            raise _encoder_failure(fmt, stderr, encoder.returncode)
    except BrokenPipeError as err:
        encoder.wait()
        stderr = encoder.stderr.read().decode("utf-8", "replace").strip()
        raise _encoder_failure(fmt, stderr, encoder.returncode) from err
    finally:
        if encoder.poll() is None:
            encoder.kill()
            encoder.wait()
        meta.unlink(missing_ok=True)
    return done


def _encoder_failure(fmt: str, stderr: str, returncode: int | None) -> Exception:
    """ffmpeg's last line, or the OSError it names (a full disk reads like one from libsndfile)."""
    if returncode == -signal.SIGXFSZ:       # over the file-size limit (ulimit -f): killed, not told
        return OSError(errno.EFBIG, os.strerror(errno.EFBIG))
    last = stderr.splitlines()[-1] if stderr else "it stopped"
    for code in (*_DISK_FULL, *_NOT_ALLOWED):
        if os.strerror(code) in stderr:
            return OSError(code, os.strerror(code))
    return CompanionError(f"ffmpeg could not encode {fmt}: {last}")


def _pump(session: Session, block: np.ndarray, sink: Callable[[np.ndarray, int], object],
          progress: Progress | None, stop: StopFlag) -> int:
    """Render the session block by block into ``sink(audio, first_frame)``; return the frames written.

    ``sink`` runs on a writer thread, one block behind the renderer, into two blocks used in turn: the
    conversion to the file's samples and the write (numpy's loops, libsndfile and the pipe to an encoder
    release the GIL) overlap the mixing of the next block, instead of following it on the same core. The
    bytes written are the same. A sink's exception is raised here, at the next block. ``stop`` is checked
    before each block, so Ctrl-C ends the render within one block (~2 s of audio, a few ms).
    """
    blocks = (block, np.empty_like(block))
    done = turn = 0
    pending: Future | None = None       # the previous block's write (into the other block)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-write") as writer:
        try:
            while not session.finished:
                stop.check()
                current = blocks[turn % 2]  # its write, two turns ago, was waited for last turn
                turn += 1
                written = session.render(current)
                if pending is not None:
                    pending.result()        # the other block is free again; a write error is raised here
                    pending = None
                if written:
                    pending = writer.submit(sink, current[:written], done)
                done += written
                if progress:
                    progress(done, session.timeline.end)
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                wait([pending])             # never leave a write running into a file being closed
    return done


class Dither:
    """float → 16-bit with TPDF dither (triangular, ±1 LSB) from a seeded table indexed by absolute frame.

    Indexing by frame keeps the output independent of block sizes; a table (2^18 frames, 5.5 s at 48 kHz)
    costs one lookup instead of drawing random numbers for every sample (~10x faster). Its repetition
    every 5.5 s sits at -96 dBFS: far below hearing and below the music's own noise.

    The table holds the noise plus 32768.5, so ``x·32767 + table`` is the dithered value shifted to be
    non-negative: truncating it to uint16 rounds it (half up), and flipping the top bit turns the offset
    binary into two's complement. Four passes over the block, all contiguous.
    """

    FRAMES = 1 << 18

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        uniform = rng.random((self.FRAMES, CHANNELS, 2), dtype=np.float32)
        self._table = uniform[..., 0] - uniform[..., 1] + np.float32(32768.5)

    def to_int16(self, block: np.ndarray, first_frame: int) -> np.ndarray:
        n = len(block)
        scaled = np.multiply(block, np.float32(32767.0), dtype=np.float32)
        start, done = first_frame % self.FRAMES, 0
        while done < n:  # the table wraps at most once per FRAMES frames: slices, never fancy indexing
            take = min(n - done, self.FRAMES - start)
            scaled[done: done + take] += self._table[start: start + take]
            done, start = done + take, 0
        np.clip(scaled, 0.0, 65535.0, out=scaled)
        codes = scaled.astype(np.uint16)
        codes ^= np.uint16(0x8000)
        return codes.view(np.int16)


def ffmetadata(title: str, chapters: tuple[Chapter, ...], length_s: float) -> str:
    """FFmpeg's metadata file: title, artist and one [CHAPTER] per step (ms), special characters escaped
    (a newline in a title cannot start a new key)."""
    lines = [";FFMETADATA1", f"title={_meta_escape(title)}", f"artist={ARTIST}"]
    for i, chapter in enumerate(chapters):
        end_s = chapters[i + 1].start_s if i + 1 < len(chapters) else length_s
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={int(round(chapter.start_s * 1000))}",
                  f"END={int(round(end_s * 1000))}", f"title={_meta_escape(chapter.title)}"]
    return "\n".join(lines) + "\n"


def _meta_escape(text: str) -> str:
    return re.sub(r"([=;#\\\n])", r"\\\1", text)


def _tag_chapter_comments(path: Path, fmt: str, title: str, chapters: tuple[Chapter, ...]) -> None:
    """Title, artist and Vorbis-comment chapters (CHAPTERnnn / CHAPTERnnnNAME) in a FLAC or Ogg file.
    No padding after the comments: ffprobe warns about bytes left over in an Ogg comment header.

    mutagen wraps an OSError (a disk that fills while the comments grow the file) in its own error; the
    OSError is raised instead, so that it reads like any other full disk (``_write_failure``)."""
    from mutagen import MutagenError
    from mutagen.flac import FLAC
    from mutagen.oggvorbis import OggVorbis

    try:
        audio = FLAC(str(path)) if fmt == "flac" else OggVorbis(str(path))
        audio["TITLE"], audio["ARTIST"] = title, ARTIST
        for i, chapter in enumerate(chapters, start=1):
            audio[f"CHAPTER{i:03d}"] = _hms(chapter.start_s)
            audio[f"CHAPTER{i:03d}NAME"] = chapter.title
        audio.save(padding=lambda info: 0)
    except MutagenError as err:
        cause = err.args[0] if err.args and isinstance(err.args[0], OSError) else err.__context__
        if isinstance(cause, OSError):
            raise cause from err
        raise


def cue_sheet(file_name: str, chapters: tuple[Chapter, ...]) -> str:
    """A CUE sheet with one track per step (INDEX in mm:ss:ff, 75 frames a second)."""
    lines = [f'FILE "{visible(file_name).replace(chr(34), chr(39))}" WAVE']
    for number, chapter in enumerate(chapters, start=1):
        frames = int(round(chapter.start_s * 75))
        lines += [f"  TRACK {number:02d} AUDIO", f'    TITLE "{visible(chapter.title).replace(chr(34), chr(39))}"',
                  f"    INDEX 01 {frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}"]
    return "\n".join(lines) + "\n"


def _hms(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    return f"{millis // 3600000:02d}:{millis // 60000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"
