"""Playing a session with one-key controls and a status line: the main thread of live playback.

``play_session`` wires the pieces: ``companion.output.stream.Player`` (the ring, the render thread and
the audio callback), ``companion.terminal.keys`` (cbreak keys) and ``companion.terminal.statusline``.
The main thread waits on the keyboard itself (``select`` returns the moment a key arrives), posts the
key's command at once and redraws the status line a few times a second; it never touches audio.
Device discovery lives in ``companion.output.device``.
"""

from __future__ import annotations

import os
import signal

from companion.output.device import OutputDevice
from companion.output.stream import PlaybackResult, Player, SessionLike

STATS_ENV = "COMPANION_PLAYER_STATS"   # a path: when set, play() writes its figures there as JSON
KEY_WAIT_S = 0.1                       # the longest the main thread sleeps between status redraws


class signals_interrupt:
    """Context manager: SIGINT/SIGTERM call ``player.interrupt()`` instead of killing the process."""

    def __init__(self, player: Player) -> None:
        self.player = player
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.player.interrupt()

    def __enter__(self) -> signals_interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def play_session(session: SessionLike, device: OutputDevice, *, keys: bool = True, out=None) -> PlaybackResult:
    """Play ``session`` with one-key controls and a status line on a terminal (or step log lines).

    Keys are read only when ``keys`` is true and stdin is a terminal; the status line is drawn only when
    ``out`` is a terminal too. SIGINT/SIGTERM fade out over ~1 s (a second one stops at once). The
    terminal is restored on every way out.
    """
    import sys

    from companion.terminal.keys import SHOW_HELP, KeyReader, action_for, help_for
    from companion.terminal.statusline import StatusView

    out = out if out is not None else sys.stdout
    reader = KeyReader() if keys else KeyReader(stream=_NoTTY())
    live = reader.enabled and out.isatty()
    has_steps = session.status().step_count > 0      # ambient music: only the keys that work there
    view = StatusView(out, live=live, keys_help=help_for(has_steps) if reader.enabled else "")
    player = Player(session, device, say=view.message)

    # select() returns as soon as a key arrives, so the wait only bounds how often the line is redrawn.
    tick_s = KEY_WAIT_S if reader.enabled else 0.25

    def tick(p: Player) -> None:
        for key in reader.read(tick_s):
            action = action_for(key, has_steps)
            if action is None:
                continue
            command, value = action
            if command == SHOW_HELP:
                view.toggle_help()
            else:
                p.post(command, value)
                view.acknowledge(command, value)
        view.update(p.heard_status())

    try:
        with reader, signals_interrupt(player):
            result = player.run(on_tick=tick)
    finally:
        view.close()
        if os.environ.get(STATS_ENV):
            player.write_stats(os.environ[STATS_ENV])
    return result


class _NoTTY:
    """A stand-in stdin for --no-keys: never a terminal."""

    def fileno(self) -> int:
        raise ValueError("no keys")
