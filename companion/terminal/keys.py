"""One-key controls on a terminal, for hands that are busy massaging a neck.

``KeyReader`` puts the terminal in cbreak mode (keys arrive one at a time, no echo; Ctrl-C still sends
SIGINT) and restores the saved settings on every way out: the context manager's exit, an exception,
and, as a last resort, ``atexit``. ``action_for(key)`` maps a key to a session ``Command`` (what
``Session.post`` accepts) or to ``SHOW_HELP``, the one action the player handles itself; the arrows
arrive as escape sequences and are decoded here.
"""

from __future__ import annotations

import atexit
import os
import select
import sys
from typing import TextIO

from companion.controls import Command

SHOW_HELP = "help"           # a player-side action, not a session command

# key -> (session command or SHOW_HELP, value)
KEYMAP: dict[str, tuple[Command | str, float | None]] = {
    " ": (Command.TOGGLE, None),
    "n": (Command.NEXT, None),
    "right": (Command.NEXT, None),
    "p": (Command.REPEAT, None),
    "left": (Command.REPEAT, None),
    "e": (Command.EXTEND, 30.0),
    "+": (Command.VOLUME, 1.0),
    "=": (Command.VOLUME, 1.0),        # the unshifted + key
    "-": (Command.VOLUME, -1.0),
    "v": (Command.BALANCE, 1.0),
    "m": (Command.BALANCE, -1.0),
    "q": (Command.QUIT, 3.0),
    "?": (SHOW_HELP, None),
    "h": (SHOW_HELP, None),
}

HELP = "Keys: space pause  n next  p repeat  e +30s  +/- volume  v/m voice/music  q quit  ? hide keys"
# A session without steps (ambient music) has no step to skip, repeat or extend, and no narration to balance.
STEP_COMMANDS = frozenset({Command.NEXT, Command.REPEAT, Command.EXTEND, Command.BALANCE})
AMBIENT_HELP = "Keys: space pause  +/- volume  q end gently  ? hide keys"


def help_for(has_steps: bool) -> str:
    """The key line for a guided session (``has_steps``) or for ambient music: only keys that work there."""
    return HELP if has_steps else AMBIENT_HELP

_ESCAPES = {"\x1b[C": "right", "\x1bOC": "right", "\x1b[D": "left", "\x1bOD": "left"}


def action_for(key: str, has_steps: bool = True) -> tuple[Command | str, float | None] | None:
    """The (command, value) a key stands for, or None for keys that do nothing (in a session without
    steps, the step keys too)."""
    action = KEYMAP.get(key) or KEYMAP.get(key.lower())
    if action is not None and not has_steps and action[0] in STEP_COMMANDS:
        return None
    return action


def split_keys(text: str) -> list[str]:
    """Split what one read() returned into keys: single characters and known arrow sequences."""
    keys: list[str] = []
    i = 0
    while i < len(text):
        for seq, name in _ESCAPES.items():
            if text.startswith(seq, i):
                keys.append(name)
                i += len(seq)
                break
        else:
            if text[i] == "\x1b":            # an escape sequence we do not know: skip it whole
                j = i + 1
                if j < len(text) and text[j] in "[O":
                    j += 1
                    while j < len(text) and not text[j].isalpha() and text[j] != "~":
                        j += 1
                    j += 1
                i = max(j, i + 1)
                continue
            keys.append(text[i])
            i += 1
    return keys


class KeyReader:
    """Reads single keys from a terminal without blocking; a no-op when ``stream`` is not a TTY."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        try:
            self.fd = self.stream.fileno()
            self.enabled = os.isatty(self.fd)
        except (AttributeError, ValueError, OSError):
            self.fd, self.enabled = -1, False
        self._saved = None

    def __enter__(self) -> KeyReader:
        if self.enabled:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            atexit.register(self.restore)
            tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def restore(self) -> None:
        """Put the terminal back as it was. Safe to call more than once."""
        saved, self._saved = self._saved, None
        if saved is not None:
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            except termios.error:
                pass
            atexit.unregister(self.restore)

    def read(self, timeout_s: float) -> list[str]:
        """Keys typed within ``timeout_s`` (possibly none). Sleeps the timeout when disabled."""
        if not self.enabled:
            if timeout_s > 0:
                select.select([], [], [], timeout_s)
            return []
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 64)
        except OSError:
            return []
        return split_keys(data.decode("utf-8", errors="ignore"))
