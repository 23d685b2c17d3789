"""Ambient sessions for treatments: cue parsing, cue audio, and the second output for cues.

``companion ambient`` plays music for the length of a treatment with spoken cues (``--cue 45:"Five
minutes left"``). ``mix.assemble.build_ambient_session`` builds the session; this module turns
the command's words into its arguments and, with ``--cue-device``, splits the cue bus off to a second
sound output so that only the therapist hears the cues:

    room Player ── producer: session.render_ahead(block) ──► room ring ──► room device (music only)
                                   └── cue bus, same frames ──► CueFeed queue ──► cue Player ──► earbud

Both players render ahead by the same amount and start together, so the cue is heard at its minute on
the second device (the test holds it to ±50 ms on two virtual sinks). Pause and quit fade on both: the
cue player has an output stage of its own (gains only, no limiter) that gets the same pause, resume and
quit as the room's, on the block each device is being sent.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from companion.controls import Command, as_command
from companion.errors import BadInputError
from companion.mix.assemble import Cue
from companion.mix.output_stage import OutputStage

log = logging.getLogger("companion")

_CUE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(.*?)\s*$", re.S)


def parse_cue(given: str, minutes: float) -> Cue:
    """``"45:Five minutes left"`` -> Cue(45.0, "Five minutes left"); BadInputError when malformed."""
    match = _CUE_RE.match(given)
    text = match.group(2).strip().strip("\"'").strip() if match else ""
    if not match or not text:
        raise BadInputError(f"--cue {given!r} is not MINUTE:TEXT",
                            hint='for example --cue 45:"Five minutes left" or --cue 44.5:"Almost done"')
    minute = float(match.group(1))
    if not 0 < minute < minutes:
        raise BadInputError(f"--cue {given!r}: minute {minute:g} is outside the session",
                            hint=f"use a minute after 0 and before the end ({minutes:g})")
    return Cue(minute, text)


def parse_cues(given: Sequence[str], minutes: float) -> list[Cue]:
    return sorted((parse_cue(g, minutes) for g in given), key=lambda cue: cue.minute)


def cue_audio_paths(cues: Sequence[Cue], *, voice: str | None = None, say=log.warning) -> dict[int, Path]:
    """index -> spoken clip for each cue that has a voice; cues left out play the soft chime.

    When no voice is available for some cue, ``say`` is called once for the whole session.
    """
    if not cues:
        return {}
    from companion.narration import voicing
    from companion.narration.voices import DEFAULT_VOICE

    paths: dict[int, Path] = {}
    unvoiced = []
    for index, cue in enumerate(cues):
        found = voicing.cue_audio(cue.text, voice or DEFAULT_VOICE)
        if found is None:
            unvoiced.append(cue.text)
        else:
            paths[index] = found
    if unvoiced:
        shown = ", ".join(repr(t) for t in unvoiced[:3]) + (" ..." if len(unvoiced) > 3 else "")
        say(f"no text-to-speech engine is installed, so a soft chime stands in for {shown} "
            f"(reinstall companion with scripts/setup.sh for spoken cues, or use a built-in cue phrase: "
            f"companion voices)")
    return paths


class CueFeed:
    """Carries the session's cue bus from the room player's producer to the cue player.

    ``tap`` wraps the session for the room player: each ``render_ahead(out)`` also queues the cue bus of
    the same frames, and each pause, resume or quit posted to it also goes to ``cue_stage``. ``source`` is what the cue player renders: those blocks in order, silence and the end
    once the room has finished. Memory is bounded by the two players' rings (each renders only as far
    ahead as its ring allows).
    """

    def __init__(self, session) -> None:
        self.session = session
        self._queue: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self.ended = threading.Event()
        self.cue_stage = OutputStage(session.rate_hz, limit=False)
        self.tap = _Tap(self)
        self.source = _CueSource(self)


class _Tap:
    def __init__(self, feed: CueFeed) -> None:
        self._feed = feed
        self._session = feed.session
        self.rate_hz = self._session.rate_hz
        self.stage = self._session.stage

    @property
    def finished(self) -> bool:
        return self._session.finished

    @property
    def has_commands(self) -> bool:
        return self._session.has_commands

    @property
    def replans(self) -> int:
        return self._session.replans

    @property
    def block_frame(self) -> int:
        return self._session.block_frame

    def render_ahead(self, out: np.ndarray, voice: np.ndarray | None = None) -> int | None:
        frames = self._session.render_ahead(out, voice)
        if frames is None:                  # paused: no frames, no cues
            return None
        cues = np.empty_like(out)           # queued for the cue player's thread: a block of its own
        self._session.render_cues(cues)     # the cue bus of the same output frames
        if not self._feed.ended.is_set():          # nobody listens once the cue player has gone
            self._feed._queue.put(cues)
            if self._session.finished:
                self._feed._queue.put(None)
        return frames

    def post(self, command, value: float | None = None) -> None:
        command = as_command(command)
        if command is Command.TOGGLE:       # resolved once, so both outputs do the same
            command = Command.RESUME if self._session.status().paused else Command.PAUSE
        self._session.post(command, value)
        if command in (Command.PAUSE, Command.RESUME, Command.QUIT):
            self._feed.cue_stage.post(command, value)
        elif command in (Command.NEXT, Command.REPEAT):
            self._feed.cue_stage.post(Command.RESUME)

    def status(self, heard_frame: int | None = None):
        return self._session.status(heard_frame)

    def close(self) -> None:
        self._feed.ended.set()
        self._feed._queue.put(None)
        if hasattr(self._session, "close"):
            self._session.close()


class _CueSource:
    def __init__(self, feed: CueFeed) -> None:
        self._feed = feed
        self.rate_hz = feed.session.rate_hz
        self.stage = feed.cue_stage
        self.finished = False

    def render_ahead(self, out: np.ndarray, voice: np.ndarray | None = None) -> int:
        if voice is not None:
            voice.fill(0.0)               # the cues arrive mixed: nothing to balance
        while not self.finished:
            try:
                block = self._feed._queue.get(timeout=0.2)
            except queue.Empty:
                if self._feed.ended.is_set():
                    self.finished = True
                continue
            if block is None:
                self.finished = True
                break
            out[:] = block
            return len(out)
        out.fill(0.0)
        return 0

    def post(self, command, value: float | None = None) -> None:
        pass                      # the room player owns the controls

    def status(self, heard_frame: int | None = None):
        return self._feed.session.status(heard_frame)
