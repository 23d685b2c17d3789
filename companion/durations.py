"""Time as the engine counts it (frames) and as a person reads it (``m:ss``).

One conversion each way, so a hold of 30 s is the same number of frames in the planner, the mixer and
the session, and every length a command prints reads the same.
"""

from __future__ import annotations


def seconds_to_frames(seconds: float, rate_hz: int) -> int:
    """``seconds`` at ``rate_hz`` as a whole number of frames, rounded to the nearest frame."""
    return int(round(seconds * rate_hz))


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` from an hour), rounded down; negative reads as 0:00.

    Rounded down so an elapsed time never runs ahead of the sound. For a length, pass
    ``round(seconds)``: a 15-minute session is 899.99998 s long and must read 15:00, not 14:59.
    """
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
