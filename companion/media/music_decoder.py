"""Music decoding in-process: WAV, FLAC, AIFF and Ogg read by libsndfile and resampled by soxr on a thread.

``open_music_decoder`` is what the music stream calls for each track. Files libsndfile reads (the formats
``loudness.IN_PROCESS_FORMATS`` names, mono or stereo) are decoded by ``InProcessDecoder``; everything else
(mp3, m4a, anything libsndfile refuses) by ``decode.StreamDecoder`` through an ffmpeg pipe. Both offer the
same calls: ``read(frames)``, ``prefill(frames, stop)``, ``error``, ``close()``.

Why in-process for these formats: an ffmpeg child costs ~60 ms to start (Debian's ffmpeg binds ~215
libraries) and every decoded frame crosses a pipe twice (ffmpeg's write, our read: ~230 MB per 5-minute
track at 48 kHz float32). libsndfile reads a WAV at memory speed and soxr resamples it for about what
ffmpeg's swr costs; a file already at the session's rate is not resampled at all.

Work happens on one daemon thread per decoder, which keeps ``READ_AHEAD_S`` decoded ahead of the reader:
libsndfile's reads (cffi) and soxr's resampling release the GIL, so decoding runs on the other core while
the mixer works, as ffmpeg did. The output depends only on the file (fixed ``CHUNK_S`` steps into a
streaming resampler), never on how the reader slices it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from companion import CHANNELS
from companion.media.decode import FrameFifo, StreamDecoder
from companion.media.loudness import IN_PROCESS_FORMATS

CHUNK_S = 1.0           # source audio decoded and resampled per step (~0.4 MB: cache-friendly for soxr)
READ_AHEAD_S = 8.0      # decoded frames kept ahead of the reader (~3 MB at 48 kHz)
PREFILL_MAX_S = 60.0    # most a prefill decodes ahead (~23 MB at 48 kHz; see ``prefill``)
_PREFILL_POLL_S = 0.05  # how often a waiting prefill looks at its stop event


def open_music_decoder(path: Path, rate_hz: int, *, start_s: float = 0.0) -> "InProcessDecoder | StreamDecoder":
    """A decoder for one music file at ``rate_hz``, float32 stereo: in-process when libsndfile reads the
    file, else an ffmpeg pipe. Raises ToolMissingError only when ffmpeg is needed and missing; a broken
    file shows as an early end with ``error`` set, as with the ffmpeg decoder."""
    try:
        return InProcessDecoder(path, rate_hz, start_s=start_s)
    except _NotInProcess:
        return StreamDecoder(path, rate_hz, start_s=start_s)


class _NotInProcess(Exception):
    """libsndfile cannot (or should not) read this file: the ffmpeg decoder takes it."""


class InProcessDecoder:
    """One music file decoded by libsndfile and resampled by soxr (HQ) on a thread; read in blocks.

    ``read(frames)`` returns up to ``frames`` frames (a writable array the caller owns), fewer only at the
    end, and an empty array after it. ``prefill`` decodes further ahead while the previous track plays. ``error`` holds why decoding stopped early.
    Always ``close()`` (or use ``with``).
    """

    def __init__(self, path: Path, rate_hz: int, *, start_s: float = 0.0) -> None:
        try:
            import soundfile
            import soxr
        except (ImportError, OSError) as err:
            raise _NotInProcess from err
        self.path = Path(path)
        self.rate_hz = rate_hz
        self.error: str | None = None
        try:
            self._sound = soundfile.SoundFile(str(self.path))
        except Exception as err:  # noqa: BLE001 - any refusal by libsndfile: ffmpeg tries, and explains
            raise _NotInProcess from err
        sound = self._sound
        if (sound.format not in IN_PROCESS_FORMATS or not 1 <= sound.channels <= 2 or sound.frames <= 0
                or not sound.seekable()):
            sound.close()
            raise _NotInProcess
        if start_s > 0:
            sound.seek(min(int(round(start_s * sound.samplerate)), sound.frames))
        self._chunk = max(1, int(CHUNK_S * sound.samplerate))
        self._resampler = (None if sound.samplerate == rate_hz else
                           soxr.ResampleStream(sound.samplerate, rate_hz, CHANNELS, dtype="float32", quality="HQ"))
        self._fifo = FrameFifo()
        self._ready = threading.Condition()
        self._ahead = int(READ_AHEAD_S * rate_hz)
        self._wanted = 0          # frames a waiting reader asked for (the thread decodes at least that far)
        self._ended = False
        self._closed = False
        self._thread = threading.Thread(target=self._decode, daemon=True, name="music-decode")
        self._thread.start()

    # -- the decoding thread --------------------------------------------------------------------------
    def _decode(self) -> None:
        try:
            while True:
                with self._ready:
                    while not self._closed and self._fifo.frames >= max(self._ahead, self._wanted):
                        self._ready.wait()
                    if self._closed:
                        return
                block = self._sound.read(self._chunk, dtype="float32", always_2d=True)
                last = len(block) < self._chunk
                if block.shape[1] == 1:
                    block = np.repeat(block, CHANNELS, axis=1)
                if self._resampler is not None:
                    block = self._resampler.resample_chunk(block, last=last)
                with self._ready:
                    self._fifo.push(block)
                    self._ready.notify_all()
                if last:
                    return
        except Exception as err:  # noqa: BLE001 - a read error mid-file ends the track, as ffmpeg's would
            self.error = f"cannot decode ({err})"
        finally:
            with self._ready:
                self._ended = True
                self._ready.notify_all()

    # -- the reader's side ----------------------------------------------------------------------------
    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames; fewer only at the end of the file."""
        with self._ready:
            self._wanted = frames
            while self._fifo.frames < frames and not self._ended:
                self._ready.notify_all()
                self._ready.wait()
            self._wanted = 0
            out = self._fifo.take_array(min(frames, self._fifo.frames))
            self._ready.notify_all()
        return out

    def prefill(self, frames: int, stop: threading.Event) -> None:
        """Decode up to ``frames`` frames ahead (the thread does it), until ``stop`` is set; then return
        to the usual read-ahead. Called on a worker thread for the next track: while the current track
        plays, the next one is decoded on the other core (two decoder threads overlap at every track
        change, as two ffmpeg children did), so the track change never waits on one decoder. At most
        ``PREFILL_MAX_S``: this thread decodes as fast as ffmpeg did, and keeps decoding after the prefill,
        so the music stream's 175 s (sized for ffmpeg) would only cost memory (maxrss 215 MB vs 145 MB
        measured with it; ~100-150 MB with 30-90 s)."""
        frames = min(frames, int(PREFILL_MAX_S * self.rate_hz))
        with self._ready:
            self._ahead = max(self._ahead, frames)
            self._ready.notify_all()
            while self._fifo.frames < frames and not self._ended and not stop.is_set():
                self._ready.wait(_PREFILL_POLL_S)
            self._ahead = int(READ_AHEAD_S * self.rate_hz)

    def close(self) -> None:
        """Stop the thread and close the file. Safe to call more than once."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._sound.close()

    def __enter__(self) -> "InProcessDecoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
