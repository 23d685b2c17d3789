"""The check-in: "Tension now, 0 to 10?" (and pain, where the person has some), one key per answer.

Hands may be busy or tired, so each answer is one key: 0-9, ``t`` for 10, Enter to skip. The question sits
on the status line (``\\r`` + text, redrawn in place) and is answered on the same line; any other key asks
again with the keys spelled out. It waits only as long as the person takes (no time limit, no default
answer). Pain is asked before the session only when the person says there is some (``y``), and after it
only when it was given before. Off a terminal nothing is asked: ``--tension-before N`` etc. say it instead.

Spoken questions (``--speak-check-in``): a ``Speaker`` given by the caller says each question (by its id in
``QUESTIONS``) as it is shown, and is hushed by the first key, so the person can answer over the voice and
never waits for it. This module never touches sound: the command layer makes the speaker from the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

from companion.terminal.keys import KeyReader

SCALE_KEYS = "0-9, t for 10, Enter to skip"
_CLEAR_EOL = "\x1b[K"

# The questions as shown, by id; ``narration.voices.CHECK_IN_PHRASES`` has the same ids, as spoken.
QUESTIONS = {
    "tension": "Tension now, 0 to 10?",
    "any-pain": "Any pain now?",
    "pain": "Pain now, 0 to 10?",
}


class Speaker(Protocol):
    """Says a question aloud without waiting for it; ``hush`` stops it (with a short fade)."""

    def say(self, question_id: str) -> None: ...

    def hush(self) -> None: ...


class _Silent:
    def say(self, question_id: str) -> None:
        pass

    def hush(self) -> None:
        pass


SILENT = _Silent()


@dataclass(frozen=True)
class CheckIn:
    tension: int | None = None
    pain: int | None = None


def scale_value(key: str) -> int | None | str:
    """0..10 for a scale key, None for Enter (skip), "again" for any other key."""
    if len(key) == 1 and key.isdigit():
        return int(key)
    if key in ("t", "T"):
        return 10
    if key in ("\r", "\n"):
        return None
    return "again"


def ask_scale(question_id: str, reader: KeyReader, out: TextIO, speaker: Speaker = SILENT) -> int | None:
    """Ask the question ``question_id`` on the status line (and aloud, through ``speaker``) until a scale
    key or Enter comes; returns the value or None. Any key hushes the voice; a wrong key asks again."""
    def answer(key: str):
        value = scale_value(key)
        return _AGAIN if value == "again" else (value, "skipped" if value is None else value)

    return _ask(question_id, SCALE_KEYS, SCALE_KEYS, answer, reader, out, speaker)


def ask_yes_no(question_id: str, reader: KeyReader, out: TextIO, speaker: Speaker = SILENT) -> bool:
    """``y`` → True; ``n``, Enter → False; anything else asks again (the voice as in ``ask_scale``)."""
    def answer(key: str):
        if key.lower() not in ("y", "n", "\r", "\n"):
            return _AGAIN
        yes = key.lower() == "y"
        return yes, "yes" if yes else "no"

    return _ask(question_id, "y/n", "y or n", answer, reader, out, speaker)


_AGAIN = object()


def _ask(question_id: str, keys: str, retry_keys: str, answer: Callable[[str], object], reader: KeyReader,
         out: TextIO, speaker: Speaker):
    """The one question loop: show (and say) the question, read keys until ``answer(key)`` gives
    (value, what to show) rather than ``_AGAIN``; any key hushes the voice, a wrong one asks again."""
    question = QUESTIONS[question_id]
    _show(out, f"{question} ({keys}) ")
    speaker.say(question_id)
    while True:
        for key in reader.read(0.5):
            speaker.hush()
            given = answer(key)
            if given is _AGAIN:
                _show(out, f"{question} Please press {retry_keys}. ")
                speaker.say(question_id)
                continue
            value, shown = given
            _show(out, f"{question} {shown}", end="\n")
            return value


def check_in_before(out: TextIO, *, known: CheckIn = CheckIn(), speaker: Speaker = SILENT) -> CheckIn:
    """The questions before a session; values in ``known`` (from the command line) are not asked."""
    with KeyReader() as reader:
        if not reader.enabled:
            return known
        tension = known.tension if known.tension is not None else ask_scale("tension", reader, out, speaker)
        pain = known.pain
        if pain is None and ask_yes_no("any-pain", reader, out, speaker):
            pain = ask_scale("pain", reader, out, speaker)
    return CheckIn(tension, pain)


def check_in_after(out: TextIO, *, before: CheckIn, known: CheckIn = CheckIn(),
                   speaker: Speaker = SILENT) -> CheckIn:
    """The same questions after the session (pain only when it was given before)."""
    with KeyReader() as reader:
        if not reader.enabled:
            return known
        tension = known.tension if known.tension is not None else ask_scale("tension", reader, out, speaker)
        pain = known.pain
        if pain is None and before.pain is not None:
            pain = ask_scale("pain", reader, out, speaker)
    return CheckIn(tension, pain)


def _show(out: TextIO, text: str, end: str = "") -> None:
    live = out.isatty()
    out.write(("\r" + text + _CLEAR_EOL if live else text) + end)
    out.flush()
