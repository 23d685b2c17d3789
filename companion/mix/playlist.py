"""The music bus: an endless playlist as one continuous stream, crossfaded and loudness-matched.

``MusicStream.read(frames)`` returns the next frames of music. Each track is brought to the stream's
common loudness by a fixed gain chosen before its first sample; consecutive tracks overlap by an
equal-power crossfade, or -- where a track fades in or out by itself with power-complementary fades, as
the built-in ones do (``fades_itself``) -- by that fade's length, with only the other track faded, along
the complement of that fade (two such tracks simply overlap at unity gain). Each change is decided on
its own pair of tracks, so built-in tracks mixed with the user's music, or standing in for it, change
without fading one of them twice.
The output depends only on the playlist and the files, never on how many frames each call asks for
(block-size invariant), because all decisions are made on the sample sequence.

A track that cannot be read (missing, empty, corrupt, not audio) is skipped with one warning; if a whole
pass over the playlist yields nothing, the stream falls back to the built-in music, and if even that
fails, to silence (the session goes on). The next track is opened and analysed ahead of time on a worker
thread, so a track change never waits for ffmpeg or loudness analysis.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion import CHANNELS, dsp
from companion.errors import CompanionError
from companion.media.decode import FrameFifo, StreamDecoder

log = logging.getLogger("companion")

# A track is accepted once it has produced this much audio; a shorter one that fails is "broken".
_MIN_GOOD_S = 0.05
# A whole track shorter than this is skipped with one warning (a click, a test tone, a cut-off file);
# longer ones that are shorter than the crossfade are crossfaded in over half their own length.
MIN_TRACK_S = 0.5
# Loudness matching raises a quiet track by at most this much (more would lift its noise floor and hiss
# as far); a track quieter than the common level minus this stays that much quieter. README says so.
MAX_BOOST_DB = 18.0
# The next track is decoded this far ahead while the current one plays (48 kHz stereo float32: 64 MiB).
PREFILL_S = 175.0


def self_fade_power(x: np.ndarray) -> np.ndarray:
    """The power of the built-in tracks' fade-in at ``x`` (0..1 of the fade): the "smootherstep"
    p(x) = 6x^5 - 15x^4 + 10x^3 of scripts/make_music.py ``fade_gain``; p(x) + p(1 - x) = 1."""
    x = np.clip(x, 0.0, 1.0)
    return x ** 3 * (10.0 - 15.0 * x + 6.0 * x ** 2)


def self_fade_gain(x: np.ndarray) -> np.ndarray:
    """The gain whose power is ``self_fade_power``: a fade-in at ``x``, a fade-out at ``1 - x``."""
    return np.sqrt(self_fade_power(x)).astype(np.float32)


@dataclass
class _Opened:
    path: Path
    decoder: StreamDecoder
    gain: float
    produced: int = 0


class MusicStream:
    """Continuous music from ``playlist`` at ``rate_hz``, each track at ``target_lufs``.

    ``loudness_of(path)`` returns a track's integrated loudness (LUFS) or raises CompanionError for a file
    that cannot be read. ``fallback`` is a second playlist used when the first yields nothing playable.
    ``length_of(path)`` (optional) gives a track's length in seconds; with ``until`` (the stream frame
    where the session stops reading, kept up to date by the mixer) it limits how much of the next track
    is decoded ahead to what the session can still use. ``fades_itself(path)`` is True for a track that
    carries its own fades, each ``self_fade_s`` long, whose powers add to one when overlapped (fade-in
    power p(x) = ``self_fade_power(x)``, fade-out 1 - p(x)). A change that involves such a track lasts
    ``self_fade_s``; the track that does not fade itself is faded along the complement of the other's fade
    (fade-out power 1 - p(x) before a self-fading track, fade-in p(x) after one), so the powers still add
    to one; two self-fading tracks only overlap, at unity gain. An equal-power crossfade on top of such
    fades would fade a track twice and leave a 1-3 LU dip in the middle. ``tracks_fade_themselves`` says
    every track does.
    """

    def __init__(
        self,
        playlist: Iterator[Path],
        loudness_of: Callable[[Path], float],
        *,
        rate_hz: int,
        target_lufs: float,
        crossfade_s: float = 6.0,
        fallback: Callable[[], Iterator[Path]] | None = None,
        max_gain_db: float = MAX_BOOST_DB,
        length_of: Callable[[Path], float | None] | None = None,
        tracks_fade_themselves: bool = False,
        fades_itself: Callable[[Path], bool] | None = None,
        self_fade_s: float | None = None,
    ) -> None:
        self.rate_hz = rate_hz
        self.target_lufs = target_lufs
        self._user_fade_frames = max(1, int(round(crossfade_s * rate_hz)))
        self._self_fade_frames = max(1, int(round((self_fade_s or crossfade_s) * rate_hz)))
        self._fades_itself = (lambda path: True) if tracks_fade_themselves else (fades_itself or (lambda path: False))
        # Look-ahead and head length: the longest change this stream may make.
        self.crossfade_frames = (self._self_fade_frames if tracks_fade_themselves
                                 else max(self._user_fade_frames, self._self_fade_frames if fades_itself else 0))
        self._min_track_frames = int(MIN_TRACK_S * rate_hz)
        self._tail_path: Path | None = None      # the track whose end is being faded (reader's thread)
        self._playlist = playlist
        self._loudness_of = loudness_of
        self._length_of = length_of
        self.until: int | None = None
        # Offline renders set this: once the next track is prefilled, the worker keeps this much of the
        # playing track decoded ahead too (StreamDecoder.keep_ahead). 0 for live playback.
        self.decode_ahead_s = 0.0
        self._emitted = 0       # frames returned by read() so far
        self._fallback = fallback
        self._max_gain_db = max_gain_db
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="music-prepare")
        self._stop_prefill = threading.Event()
        self._warned: set[Path] = set()
        self._too_short: set[Path] = set()   # tracks under MIN_TRACK_S, never opened again
        self._failures_in_row = 0
        self._last_opened: Path | None = None
        self._repeat_allowed = False
        self._last_heard: Path | None = None     # the last track that gave audio (reader's thread)
        self._skipped_repeat = False
        self.current: Path | None = None
        self._buffer = FrameFifo()  # decoded, not yet emitted (gain applied)
        self._track: _Opened | None = None
        self._next: Future[_Opened | None] = self._pool.submit(self._open_next)
        self._started = False

    # -- preparing tracks ahead --------------------------------------------------------------------
    def _open_next(self, playing: _Opened | None = None, playing_from: int = 0) -> _Opened | None:
        """Open the next playable track (runs on the worker thread), to follow ``playing``, which starts
        at stream frame ``playing_from``. None means silence from now on."""
        while True:
            try:
                path = next(self._playlist)
            except StopIteration:
                path = None
            if path is not None and path == self._last_opened and not self._repeat_allowed:
                # Never the same track twice in a row, even when a broken file between two rounds of
                # the playlist was skipped; a playlist with one good track still repeats it.
                self._repeat_allowed = True
                continue
            if path is None or self._failures_in_row >= 50:
                if self._fallback is not None:
                    log.warning("no music could be read; using the built-in music")
                    self._playlist, self._fallback = self._fallback(), None
                    self._failures_in_row = 0
                    continue
                return None
            if path in self._too_short:    # known from an earlier round: no decoder start for it
                self._failures_in_row += 1
                continue
            try:
                lufs = self._loudness_of(path)
                gain_db = float(np.clip(np.nan_to_num(self.target_lufs - lufs, nan=0.0), -40.0, self._max_gain_db))
                decoder = StreamDecoder(path, self.rate_hz)
            except CompanionError as err:
                self._skip(path, str(err))
                continue
            self._last_opened, self._repeat_allowed = path, False
            decoder.prefill(self._prefill_frames(playing, playing_from), self._stop_prefill)
            if playing is not None and self.decode_ahead_s > 0:
                playing.decoder.keep_ahead(int(self.decode_ahead_s * self.rate_hz), self._stop_prefill)
            return _Opened(path, decoder, float(dsp.db_to_gain(gain_db)))

    def _prefill_frames(self, playing: _Opened | None, playing_from: int) -> int:
        """How much of the track after ``playing`` to decode ahead: PREFILL_S, or less when the session
        ends sooner (an estimate from the playing track's length, with 10 s to spare; a short estimate
        costs nothing but the overlap, the rest streams as usual)."""
        most = int(PREFILL_S * self.rate_hz)
        if playing is None or self.until is None or self._length_of is None:
            return most
        try:
            length_s = self._length_of(playing.path)
        except CompanionError:
            return most
        if not length_s:
            return most
        next_from = playing_from + int(length_s * self.rate_hz) - self.crossfade_frames  # (its fade-in)
        usable = self.until - next_from + 10 * self.rate_hz
        return int(min(max(usable, 0), most))

    def _skip(self, path: Path, reason: str) -> None:
        self._failures_in_row += 1
        if path not in self._warned:
            self._warned.add(path)
            log.warning("skipping music file %s", reason if str(path) in reason else f"{path}: {reason}")

    def _take_next(self) -> _Opened | None:
        self._stop_prefill.set()       # whatever is decoded ahead by now is enough: take it
        opened = self._next.result()
        self._stop_prefill.clear()
        # The track taken now starts where the buffered tail of the last one begins to fade out.
        starts_at = self._emitted + max(self._buffer.frames - self.crossfade_frames, 0)
        self._next = (self._pool.submit(self._open_next, opened, starts_at) if opened is not None
                      else self._done_future())
        return opened

    def _take_next_heard_apart(self) -> _Opened | None:
        """The next track, but not the one last heard again when only a broken file stood between them
        (the worker chose it before the file in between turned out broken). Skipped once only, so a
        playlist with one good track still repeats it."""
        opened = self._take_next()
        if opened is not None and opened.path == self._last_heard and not self._skipped_repeat:
            self._skipped_repeat = True
            opened.decoder.close()
            opened = self._take_next()
        return opened

    @staticmethod
    def _done_future() -> Future:
        future: Future = Future()
        future.set_result(None)
        return future

    def _pull(self, track: _Opened, frames: int) -> np.ndarray:
        """Up to ``frames`` frames of ``track`` with its gain; empty at its end.

        A track that ends before giving any real audio counts as broken: it is skipped with one warning
        (ffmpeg's reason, or "holds no audio"), and enough of them in a row switch to the fallback.
        """
        block = track.decoder.read(frames)
        if len(block) == 0:
            if track.produced < _MIN_GOOD_S * self.rate_hz:
                self._skip(track.path, track.decoder.error or "the file holds no audio")
            elif track.decoder.error:
                log.debug("%s ended early: %s", track.path, track.decoder.error)
            return block
        track.produced += len(block)
        if track.produced >= self._min_track_frames:
            self._failures_in_row = 0
        self._last_heard, self._skipped_repeat = track.path, False
        block *= np.float32(track.gain)
        return block

    # -- the stream ---------------------------------------------------------------------------------
    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames of music (float32, (frames, 2)), the caller's to change in place."""
        if not self._started:
            self._started = True
            head, _ = self._next_head()
            self._buffer.push(head)
        # Keep a crossfade's worth of look-ahead so a track's end is known before it must be faded.
        need = frames + self.crossfade_frames
        while self._buffer.frames < need and self._track is not None:
            block = self._pull(self._track, max(need - self._buffer.frames, self.rate_hz // 2))
            if len(block):
                self._buffer.push(block)
                continue
            # The current track ended: crossfade its tail into the next track's head.
            self._track.decoder.close()
            self._tail_path = self._track.path
            tail = self._buffer.drain()
            head, whole = self._next_head()
            self._buffer.push(self._crossfade(tail, head, whole))
        out = self._buffer.take_array(frames)
        if len(out) < frames:  # no music left at all: silence
            out = np.concatenate([out, np.zeros((frames - len(out), CHANNELS), np.float32)])
        self._emitted += frames
        return out

    def _next_head(self) -> tuple[np.ndarray, bool]:
        """Make the next playable track current and return its first crossfade's worth of frames (gain
        applied) and whether that is the whole track. A track that ends under ``MIN_TRACK_S`` is skipped
        with one warning; each skip counts as a failure, so a playlist of nothing but such files ends in
        the fallback (or silence) after a bounded number of decoder starts, never in an endless loop."""
        while True:
            self._track = self._take_next_heard_apart()
            if self._track is None:
                return np.zeros((0, CHANNELS), np.float32), True
            self.current = self._track.path
            parts, got = [], 0
            while got < self.crossfade_frames:
                block = self._pull(self._track, self.crossfade_frames - got)
                if not len(block):
                    break
                parts.append(block)
                got += len(block)
            head = np.concatenate(parts) if parts else np.zeros((0, CHANNELS), np.float32)
            whole = got < self.crossfade_frames
            if not whole or got >= self._min_track_frames:
                return head, whole
            if got:
                self._too_short.add(self._track.path)
                self._skip(self._track.path, f"shorter than {MIN_TRACK_S:g} s ({got / self.rate_hz:.2f} s)")
            self._track.decoder.close()

    def _crossfade(self, tail: np.ndarray, head: np.ndarray, whole: bool) -> np.ndarray:
        """``tail`` (the ended track's buffered rest) faded out over the start of ``head`` (the next
        track's first frames) faded in. The pair decides how (see the class docstring): equal power over
        ``crossfade_s`` between two tracks that do not fade themselves; over ``self_fade_s`` when either
        does, fading only the other one, along the complement of its fade. A track shorter than the
        crossfade (``whole``) fades in over half its length, so each track adds at least half of itself."""
        if not len(head):   # no music follows: the tail fades to silence over one crossfade
            fade = min(len(tail), self.crossfade_frames)
            tail[len(tail) - fade:] *= dsp.equal_power_out((np.arange(fade, dtype=np.float32) + 0.5)[:, None] / fade)
            return tail
        tail_fades = self._tail_path is not None and self._fades_itself(self._tail_path)
        head_fades = self._track is not None and self._fades_itself(self._track.path)
        longest = self._self_fade_frames if tail_fades or head_fades else self._user_fade_frames
        fade = min(len(tail), len(head) // 2 if whole else len(head), longest)
        if not fade:
            return np.concatenate([tail, head])
        overlap = tail[len(tail) - fade:]
        phase = ((np.arange(fade, dtype=np.float32) + 0.5) / fade)[:, None]
        if tail_fades and head_fades:
            overlap += head[:fade]
        elif tail_fades:        # the tail's own fade-out has power 1 - p: fade the head in with power p
            overlap += head[:fade] * self_fade_gain(phase)
        elif head_fades:        # the head's own fade-in has power p: fade the tail out with power 1 - p
            overlap *= self_fade_gain(1.0 - phase)
            overlap += head[:fade]
        else:
            overlap *= dsp.equal_power_out(phase)
            overlap += head[:fade] * dsp.equal_power_in(phase)
        return np.concatenate([tail, head[fade:]]) if len(head) > fade else tail

    def close(self) -> None:
        self._stop_prefill.set()
        # The worker first (it may be reading the playing track ahead), then the decoders.
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._track is not None:
            self._track.decoder.close()
        if self._next.done() and not self._next.cancelled():
            pending = self._next.result()
            if pending is not None:
                pending.decoder.close()
