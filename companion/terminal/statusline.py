"""What the player shows while it plays: a status line on a terminal, one log line per step elsewhere.

The status line is redrawn a few times a second as one write of ``\\r`` + text + clear-to-end-of-line,
cut to the terminal's width so it never wraps (a wrapped line cannot be redrawn in place and flickers).
Messages (help, device trouble) are printed on their own line above it. Off a terminal, or with
``--no-keys``, each step is logged once as it starts, and nothing is redrawn.
"""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from companion.durations import clock
from companion.terminal.text import visible

REDRAW_EVERY_S = 0.24       # with 80 ms key polls: a redraw every third poll, ~4 a second
_CLEAR_EOL = "\x1b[K"


def status_line(status, width: int = 80) -> str:
    """One line: routine, step k/N title, what to do, countdown, elapsed/total, volume; fits ``width``.

    When it is too long, what to do is shortened first, then the routine name goes, so the clock and the
    volume stay in view.
    """
    doing = "[paused: space resumes]" if status.paused else visible(status.doing or "")
    tail = []
    if status.countdown_s is not None and status.countdown_s > 0 and not status.paused:
        tail.append(f"next {clock(status.countdown_s)}")
    tail.append(f"{clock(status.elapsed_s)}/{clock(status.total_s)}")
    tail.append(f"vol {status.volume_db:+.0f} dB")
    if status.balance_db:
        tail.append(f"voice {status.balance_db:+.0f} dB")

    def join(*parts: str) -> str:
        return " | ".join(p for p in parts if p)

    head = [visible(status.routine), _step(status)]
    text = join(*head, doing, *tail)
    if len(text) >= width and doing:
        room = width - 1 - len(join(*head, "~", *tail)) + 1
        doing = doing[: room - 1] + "~" if room >= 8 else ""
        text = join(*head, doing, *tail)
    if len(text) >= width:
        text = join(_step(status), doing, *tail)
    if len(text) >= width:
        text = text[: max(0, width - 2)] + "~"
    return text


def _step(status) -> str:
    """``3/7 Jaw release``; empty for a session without steps (ambient music)."""
    if status.step_count <= 0 or status.step_index < 0:
        return ""
    return f"{status.step_index + 1}/{status.step_count} {visible(status.step_title)}"


def step_line(status) -> str:
    """The log line for a step that has just started (no terminal)."""
    doing = f": {visible(status.doing)}" if status.doing else ""
    return f"[{clock(status.elapsed_s)}] step {_step(status)}{doing}"


def ending_line(status, interrupted: bool = False, stopped_at=None) -> str:
    """The last line: finished, or where the session stopped early. ``stopped_at``: the status when the
    stop was asked for (the fade that follows may run into the next step)."""
    if status.stopped_early or interrupted:
        at = stopped_at if stopped_at is not None else status
        where = f"step {at.step_index + 1}/{at.step_count} ({visible(at.step_title)})" if _step(at) else visible(at.routine)
        return f"Stopped at {where} after {clock(at.elapsed_s)} of {clock(at.total_s)}."
    return f"Finished {visible(status.routine)} ({clock(status.elapsed_s)})."


class StatusView:
    """Shows a session's progress on ``out``: a live line on a terminal, step log lines elsewhere."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self._last_draw = float("-inf")
        self._last_step: int | None = None
        self._drawn = False

    def update(self, status, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.live:
            if now - self._last_draw >= REDRAW_EVERY_S:
                self._last_draw = now
                width = shutil.get_terminal_size((80, 24)).columns
                self._write("\r" + status_line(status, width - 1) + _CLEAR_EOL)
                self._drawn = True
        elif status.step_index != self._last_step and not status.finished and _step(status):
            self._last_step = status.step_index
            self._write(step_line(status) + "\n")

    def message(self, text: str) -> None:
        """A line of its own; on a terminal the status line is redrawn below it at the next update."""
        if self.live and self._drawn:
            self._write("\r" + _CLEAR_EOL + text + "\n")
            self._last_draw = float("-inf")
        else:
            self._write(text + "\n")

    def close(self) -> None:
        """Leave the cursor on a fresh line."""
        if self.live and self._drawn:
            self._write("\r" + _CLEAR_EOL)
            self._drawn = False

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
