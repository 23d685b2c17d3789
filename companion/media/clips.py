"""Narration clips and chimes as the mixer plays them: decoded, levelled, edge-faded, decoded ahead.

Clips are short (seconds), so each is decoded whole (``decode.read_clip``), measured and scaled to a
target loudness once, and kept in a small LRU; the mixer asks for a clip a few seconds before it is
due so that decoding never happens on the live render path.
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from companion import dsp
from companion.media.decode import read_clip, to_engine
from companion.media.loudness import levelling_gain_db


class ClipStore:
    """Decoded, loudness-normalised clips by path, decoded ahead on a worker thread.

    ``prefetch`` queues a clip for decoding (an Opus clip takes tens of milliseconds: too long for the
    render path of live playback); ``get`` returns it, decoding in place only if it was never prefetched.
    A small LRU keeps memory bounded.
    """

    def __init__(self, rate_hz: int, target_lufs: float, *, capacity: int = 24) -> None:
        self.rate_hz = rate_hz
        self.target_lufs = target_lufs
        self.capacity = capacity
        self._clips: OrderedDict[tuple[Path, float], np.ndarray] = OrderedDict()
        self._pending: dict[tuple[Path, float], Future] = {}
        self._pool: ThreadPoolExecutor | None = None

    def prefetch(self, path: Path, offset_db: float = 0.0) -> None:
        key = (path, offset_db)
        if key in self._clips or key in self._pending:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-decode")
        self._pending[key] = self._pool.submit(self._decode, path, offset_db)

    def get(self, path: Path, offset_db: float = 0.0) -> np.ndarray:
        key = (path, offset_db)
        clip = self._clips.get(key)
        if clip is not None:
            self._clips.move_to_end(key)
            return clip
        pending = self._pending.pop(key, None)
        clip = pending.result() if pending is not None else self._decode(path, offset_db)
        self._clips[key] = clip
        while len(self._clips) > self.capacity:
            self._clips.popitem(last=False)
        return clip

    def _decode(self, path: Path, offset_db: float) -> np.ndarray:
        data, file_rate = read_clip(path)
        # Measured as it is in the file (a mono clip counts as played on both sides): the same loudness as
        # after resampling and up-mixing, for a quarter of the work.
        if data.shape[1] > 2:
            data = dsp.to_stereo(data)
        gain = dsp.db_to_gain(levelling_gain_db(data, file_rate, self.target_lufs + offset_db,
                                                copies=2 if data.shape[1] == 1 else 1))
        clip = dsp.scale_frames(to_engine(data, file_rate, self.rate_hz), gain)
        return dsp.edge_fades(clip, self.rate_hz, 0.005, in_place=True)

    def keep_only(self, keys: set[tuple[Path, float]]) -> None:
        """Forget decoded clips not in ``keys`` (those no event needs any more): memory stays flat."""
        for key in [k for k in self._clips if k not in keys]:
            del self._clips[key]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
