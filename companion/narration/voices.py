"""The narration voices: which ones exist, which engine speaks each, where their shipped clips live.

Every built-in line (and every phrase in ``CUE_PHRASES`` and ``CHECK_IN_PHRASES``) is shipped as a clip in every voice, made by
``scripts/make_narration.py`` into ``audio/narration/<voice>/`` with a manifest keyed by the SHA-256 of
the text. Lines the shipped clips do not cover (a user's own routine, an ambient cue) are synthesized at
run time by the voice's engine when it is installed. ``hibari`` (the default voice's engine) is a regular
dependency, so a user's lines speak in the default voice out of the box; ``piper`` (GPL-3.0 engine) is the
optional extra ``companion[piper]``. When a voice's engine is missing, the default voice speaks the lines
its clips do not cover, and the session says so once.
"""

from __future__ import annotations

from dataclasses import dataclass

from companion.errors import BadInputError
from companion.plan.suggest import did_you_mean


@dataclass(frozen=True)
class Voice:
    name: str
    description: str   # how it sounds, for `companion voices`
    engine: str        # a key of ``synthesis.ENGINES``
    install_hint: str  # how to add the engine, for lines the shipped clips do not cover


VOICES: dict[str, Voice] = {
    "heart": Voice("heart", "higher, warm (female, American English; hibari-tts)", "hibari",
                   "it is a regular dependency: reinstall companion (scripts/setup.sh)"),
    "joe": Voice("joe", "lower, calm (male, American English; piper-tts)", "piper",
                 "pip install 'companion[piper]' (into .venv: .venv/bin/pip install -e '.[piper]')"),
}
DEFAULT_VOICE = "heart"

# Phrases a therapist gives as ambient cues (``companion ambient --cue 45:"Five minutes left"``): shipped in
# every voice, so they never need an engine. A cue whose text matches one of these (spacing aside) uses it.
CUE_PHRASES = (
    "Halfway.",
    "Five minutes left.",
    "Time to turn over.",
    "We're finishing now.",
    "Take your time getting up.",
)

# The check-in's questions as spoken (``play --check-in --speak-check-in``), by the question's id in
# ``journal.checkin.QUESTIONS`` (which holds the words shown on the status line): shipped in every voice, so
# asking never waits for an engine. Numbers are written out so every engine says them the same way.
CHECK_IN_PHRASES = {
    "tension": "Tension now, zero to ten?",
    "any-pain": "Any pain now?",
    "pain": "Pain now, zero to ten?",
}

# The sentence `companion voices` shows (and `--play` speaks) for each voice: a shipped phrase.
SAMPLE_PHRASE = "Take your time getting up."


def get_voice(name: str) -> Voice:
    """The voice called ``name``; an unknown name is a one-line error with the names that exist."""
    voice = VOICES.get(name.strip().lower())
    if voice is not None:
        return voice
    raise BadInputError(f"no voice named {name!r}; {did_you_mean(name.strip().lower(), list(VOICES), listing='the voices')}",
                        hint="see them with: companion voices")
