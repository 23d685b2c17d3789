"""The live controls a running session understands: one ``Command`` type for everyone who names one.

The keymap (``terminal.keys``) maps keys to these, ``Session.post`` accepts only these (an unknown
command raises at once instead of being ignored on the audio path), and the tests iterate over them.
A ``str`` enum, so ``Command.QUIT == "quit"`` and a command reads as its word in logs and stats.
"""

from __future__ import annotations

import enum


class Command(str, enum.Enum):
    """What a session can be asked to do; the value each one takes is described per member."""

    TOGGLE = "toggle"     # pause when playing, resume when paused
    PAUSE = "pause"
    RESUME = "resume"
    NEXT = "next"         # the next step, 0.8 s from now
    REPEAT = "repeat"     # the current step's prompt again
    EXTEND = "extend"     # value: seconds added to the current hold (default 30)
    VOLUME = "volume"     # value: dB step
    BALANCE = "balance"   # value: dB step, + = voice louder
    QUIT = "quit"         # value: fade-out in seconds (default 3)

    def __str__(self) -> str:
        return self.value


def as_command(given: str | Command) -> Command:
    """``given`` as a Command; ValueError naming it and the known ones when it is not one."""
    try:
        return Command(given)
    except ValueError:
        known = ", ".join(c.value for c in Command)
        raise ValueError(f"unknown session command {given!r}; known: {known}") from None
