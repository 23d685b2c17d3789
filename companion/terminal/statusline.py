"""What the player shows while it plays: a few live lines on a terminal, one log line per step elsewhere.

On a terminal the view is a block at the bottom, redrawn a few times a second in one write:

    Playing.  Repeating the prompt              <- state (Playing. / Paused. / Ending gently...) + feedback
    Keys: space pause  n next  p repeat ...     <- the key help, shown or hidden with ?
    Head and neck | 3/7 Jaw release | ...       <- the status line

Every line is cut (the status line) or wrapped at spaces (the help) to the terminal's width, so nothing
wraps on its own: a wrapped line cannot be redrawn in place and would stack copies. Messages (device
trouble) are printed above the block. Off a terminal, or with ``--no-keys``, each step is logged once as
it starts, key feedback is one line each, and nothing is redrawn.
"""

from __future__ import annotations

import shutil
import textwrap
import time
from typing import TextIO

from companion.controls import Command
from companion.durations import clock
from companion.terminal.text import visible

REDRAW_EVERY_S = 0.24       # with 80 ms key polls: a redraw every third poll, ~4 a second
FEEDBACK_S = 2.5           # how long a key's feedback stays in the top line
ENDING = "Ending gently..."
_CLEAR_BELOW = "\x1b[J"


PAUSED_LONG = "[paused: space resumes]"
PAUSED_SHORT = "[paused]"
_TRACK_KEEP = 24           # characters of "music: name" that what-to-do leaves room for
_MIN_TEXT = 8               # a shortened title, track or instruction keeps at least this many characters


def status_line(status, width: int = 80) -> str:
    """One line of fewer than ``width`` characters: routine | step k/N title | what to do (or the pause
    marker) | music track | next prompt | elapsed/total | volume | voice balance.

    What must stay in view at any width from 40 columns keeps its full text: the pause marker (shortened to
    ``[paused]`` only), the clock and the volume. The rest is added in order of use while it fits: the step,
    what to do, the music track (each shortened with ``~`` down to a few characters), the countdown, the
    voice balance, the routine name. The total is a length, so it is rounded to the nearest second like
    every printed length (a 15-minute session reads 15:00); the elapsed time is rounded down so it never
    runs ahead of the sound.
    """
    limit = width - 1
    paused = bool(status.paused)
    fields: dict[str, str] = {
        "clock": f"{clock(status.elapsed_s)}/{clock(round(status.total_s))}",
        "volume": f"vol {status.volume_db:+.0f} dB",
    }
    if paused:
        fields["doing"] = PAUSED_LONG
        if len(_joined(fields)) > limit:
            fields["doing"] = PAUSED_SHORT
    optional: list[tuple[str, str, bool]] = [("step", _step(status), True)]
    if not paused:
        optional.append(("doing", visible(status.doing or ""), True))
    track = getattr(status, "track", "")
    if track:
        optional.append(("track", f"music: {visible(track)}", True))
    if status.countdown_s is not None and status.countdown_s > 0 and not paused:
        optional.append(("countdown", f"next {clock(status.countdown_s)}", False))
    if status.balance_db:
        optional.append(("balance", f"voice {status.balance_db:+.0f} dB", False))
    optional.append(("routine", visible(status.routine), False))
    # What to do leaves room for a shortened track name, so the music stays named at 80 columns.
    track_room = 3 + min(len(f"music: {visible(track)}"), _TRACK_KEEP) if track else 0
    for name, text, shortens in optional:
        if not text:
            continue
        fields[name] = text
        room = limit - len(_joined(fields)) + len(text) - (track_room if name == "doing" else 0)
        if len(text) > room:
            if shortens and room >= _MIN_TEXT:
                fields[name] = text[: room - 1] + "~"
            else:
                del fields[name]
    line = _joined(fields)
    return line if len(line) <= limit else line[: max(0, limit - 1)] + "~"    # under ~30 columns only


_ORDER = ("routine", "step", "doing", "track", "countdown", "clock", "volume", "balance")


def _joined(fields: dict[str, str]) -> str:
    return " | ".join(fields[name] for name in _ORDER if fields.get(name))


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
        return f"Stopped at {where} after {clock(at.elapsed_s)} of {clock(round(at.total_s))}."
    return f"Finished {visible(status.routine)} ({clock(round(status.elapsed_s))})."


def feedback_for(command: Command | str, value: float | None = None) -> str:
    """What the top line says after a key whose effect is not heard at once ("" when the sound or the status
    line answers by itself: pause, volume, balance)."""
    if command == Command.NEXT:
        return "Next step"
    if command == Command.REPEAT:
        return "Repeating the prompt"
    if command == Command.EXTEND:
        return f"+{value or 30:.0f} s on this step"
    if command == Command.QUIT:
        return ENDING
    return ""


def state_line(status, note: str = "", ending: bool = False) -> str:
    """The top line: ``Paused.`` while paused, ``Ending gently...`` once q was pressed, else ``Playing.``;
    then the last key's feedback, if any."""
    state = ENDING if ending else "Paused." if status.paused else "Playing."
    return state if not note or note == state else f"{state}  {note}"


def help_lines(text: str, width: int) -> list[str]:
    """``text`` wrapped into lines of fewer than ``width`` characters, breaking only between its entries
    (separated by two spaces: ``q quit`` stays together) and never inside a word (unless one word alone
    is wider than the terminal)."""
    limit = max(10, width - 1)
    lines: list[str] = []
    for entry in text.split("  "):
        if lines and len(lines[-1]) + 2 + len(entry) <= limit:
            lines[-1] += "  " + entry
        else:
            lines += textwrap.wrap(entry, limit, break_on_hyphens=False) or [""]
    return lines or [""]


class StatusView:
    """Shows a session's progress on ``out``: a live block on a terminal, step log lines elsewhere.

    ``keys_help``: the key line to show ("" when keys are off); it starts shown, ``toggle_help`` hides and
    shows it. ``acknowledge(command, value)``: a key was pressed; its feedback shows for FEEDBACK_S.
    """

    def __init__(self, out: TextIO, live: bool, keys_help: str = "") -> None:
        self.out = out
        self.live = live
        self.keys_help = keys_help
        self.help_shown = bool(keys_help)
        self._last_draw = float("-inf")
        self._last_step: int | None = None
        self._block_lines = 0          # lines of the block on screen (0: nothing drawn)
        self._status = None
        self._note = ""
        self._note_until = float("-inf")
        self._ending = False
        if keys_help and not live:
            self._write(keys_help + "\n")

    def update(self, status, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._status = status
        if self.live:
            if now - self._last_draw >= REDRAW_EVERY_S:
                self._last_draw = now
                self._draw(now)
        elif status.step_index != self._last_step and not status.finished and _step(status):
            self._last_step = status.step_index
            self._write(step_line(status) + "\n")

    def toggle_help(self) -> None:
        """``?``: hide the key help, or show it again (never a second copy)."""
        if not self.keys_help:
            return
        self.help_shown = not self.help_shown
        if self.live:
            self._last_draw = float("-inf")
        elif self.help_shown:
            self._write(self.keys_help + "\n")

    def acknowledge(self, command: Command | str, value: float | None = None, now: float | None = None) -> None:
        """Show what a key did, where its sound does not say it at once."""
        text = feedback_for(command, value)
        if command == Command.QUIT:
            self._ending = True
        if not text:
            return
        if not self.live:
            self._write(text + "\n")
            return
        now = time.monotonic() if now is None else now
        self._note, self._note_until = text, now + FEEDBACK_S
        self._last_draw = float("-inf")

    def message(self, text: str) -> None:
        """A line of its own above the block; the block is redrawn below it at the next update."""
        if self.live and self._block_lines:
            self._write(self._to_top() + text + "\n")
            self._block_lines = 0
            self._last_draw = float("-inf")
        else:
            self._write(text + "\n")

    def close(self) -> None:
        """Clear the block and leave the cursor at the start of its first line."""
        if self.live and self._block_lines:
            self._write(self._to_top())
            self._block_lines = 0

    def block(self, width: int, now: float) -> list[str]:
        """The lines drawn on a terminal ``width`` columns wide (each shorter than ``width``)."""
        status = self._status
        note = self._note if now < self._note_until else ""
        state = state_line(status, note, self._ending)
        if self.keys_help and not self.help_shown:
            state += "  (? shows the keys)"
        lines = [state[: width - 1]]
        if self.help_shown:
            lines += help_lines(self.keys_help, width)
        return lines + [status_line(status, width)]

    def _draw(self, now: float) -> None:
        if self._status is None:
            return
        width = shutil.get_terminal_size((80, 24)).columns
        lines = self.block(width, now)
        self._write(self._to_top() + "\n".join(lines))
        self._block_lines = len(lines)

    def _to_top(self) -> str:
        """Back to the first column of the block's first line, and clear from there down."""
        up = f"\x1b[{self._block_lines - 1}A" if self._block_lines > 1 else ""
        return up + "\r" + _CLEAR_BELOW

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
