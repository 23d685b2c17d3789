"""What a live playback run did: the figures the CLI's last line, the stats file and the benchmarks read.

``write_stats`` writes them as JSON when ``COMPANION_PLAYER_STATS`` names a file (companion.output.player):
underflows (device side and ring side), render and callback times, when the stream started, and which OS
thread did what (so scripts/bench_player.py can split the process's CPU time by thread).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class PlaybackResult:
    """What happened, for the CLI's last line and the stats file."""

    interrupted: bool = False        # Ctrl-C / SIGTERM
    status: object | None = None     # the session's last Status
    stopped_at: object | None = None  # its Status when a quit (q, Ctrl-C) was asked: where the person stopped
    underflows: int = 0              # callback found the ring empty, or PortAudio flagged an underflow
    device_underflows: int = 0       # PortAudio's output_underflow flags alone
    ring_underruns: int = 0          # the ring was empty while the session was audible
    blocks: int = 0                  # callbacks served
    flushes: int = 0                 # ring flushes (next/repeat)
    render_max_us: float = 0.0      # the longest render call (RENDER_BLOCKS blocks)
    render_mean_us: float = 0.0     # per block
    callback_max_us: float = 0.0
    device_errors: list[str] = field(default_factory=list)
    grown_at_underflows: int | None = None  # device underflows when the buffer grew (None: it did not)
    stream_started_unix: float = 0.0


def write_stats(path: str, result: PlaybackResult, **more: object) -> None:
    """``result``'s figures (less the Status snapshots) and ``more`` as JSON at ``path``."""
    figures = {k: v for k, v in vars(result).items() if k not in ("status", "stopped_at")}
    figures.update(more)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(figures, fh, indent=1)
