"""Narration providers: which audio file speaks each line of a routine, and the cache of synthesized lines.

For every text line, in the chosen voice (``companion.narration.voices``) and at the routine's pace
(``[session] pace``: each pace has its own renderings, ``synthesis.DELIVERIES``), the first of these wins:
1. the line's own recorded clip (``{ text = ..., clip = "..." }``; its existence is checked by routine
   validation);
2. the voice's shipped clip whose stored text hash and pace match (``audio/narration/<voice>/manifest.json``,
   made by ``scripts/make_narration.py``; keys ``synthesis.clip_key``);
3. a clip synthesized earlier and kept in the user cache (``<user cache>/companion/voice/``), keyed by the
   provider and the SHA-256 of the text;
4. a clip synthesized now, ahead of playback, on one worker thread, and written to that cache atomically:
   by the voice's engine; if that engine is not installed, by the default voice's engine (a regular
   dependency); ``espeak-ng`` only as a last resort. Either stand-in is said once, naming what speaks.
When none is possible, ``line_audio`` raises ``BadInputError`` naming the lines and how to get a voice.

The engine decodes the returned files itself and normalises each clip's loudness; clips made here are
already close to -20 LUFS so what is cached is fine to listen to on its own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import soundfile as sf

from companion import folders
from companion.narration import synthesis
from companion.narration.voices import DEFAULT_VOICE, VOICES, Voice, get_voice
from companion.assets import audio_dir
from companion.errors import BadInputError, CompanionError
from companion.plan.routine import Routine
from companion.terminal.console import quiet_c_stderr

log = logging.getLogger("companion")

TARGET_LUFS = -20.0
MAX_PEAK_DB = -1.0
ESPEAK_VOICE = "en-us"
ESPEAK_WPM = 140
HOW_TO_GET_A_VOICE = ("to get a voice: reinstall companion (scripts/setup.sh installs its voice engine) or "
                      "apt-get install espeak-ng; or give the line a recorded clip: "
                      "{ text = \"...\", clip = \"file.wav\" }")

Progress = Callable[[int, int], None]


class Provider(Protocol):
    """Something that turns a line's text into mono samples; ``id`` keys the cache."""

    id: str

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """Text → (mono float32 samples, rate in Hz), trimmed and with edge fades."""


class EngineProvider:
    """A voice's neural engine, shaped exactly like the shipped clips."""

    def __init__(self, voice: Voice, pace: str = synthesis.DEFAULT_PACE) -> None:
        self.voice = voice
        self.engine = synthesis.load_engine(voice.engine, pace)
        self.id = self.engine.id          # names speed, low-pass and pace: paces never share a cache entry

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        try:
            audio = synthesis.speak(self.engine, text)
        except Exception as err:  # noqa: BLE001 - a broken install or model: one clear error, not a traceback
            raise CompanionError(f"the voice engine ({self.id}) failed on {text!r}: {err}",
                                 hint=f"reinstall it: {self.voice.install_hint}") from err
        return audio, self.engine.rate_hz


class EspeakProvider:
    """``espeak-ng`` (robotic but instant); its WAV output is trimmed and given 10 ms edge fades."""

    def __init__(self, program: str) -> None:
        self.program = program
        self.id = f"espeak-ng-{ESPEAK_VOICE}-{ESPEAK_WPM}"

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory(prefix="companion-espeak-") as tmp:
            out = Path(tmp) / "line.wav"
            command = [self.program, "-v", ESPEAK_VOICE, "-s", str(ESPEAK_WPM), "-w", str(out)]
            try:                                            # text on stdin: a line may start with "-"
                done = subprocess.run(command, input=synthesis.normalise_text(text).encode("utf-8"),
                                      capture_output=True, timeout=60, check=False)
            except (OSError, subprocess.TimeoutExpired) as err:
                raise CompanionError(f"espeak-ng could not be run: {err}") from err
            if done.returncode != 0 or not out.is_file():
                reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
                raise CompanionError(f"espeak-ng failed on {text!r}: {reason[-1] if reason else done.returncode}")
            audio, rate = sf.read(out, dtype="float32", always_2d=True)
        audio = synthesis.trim_silence(audio.mean(axis=1), rate)
        return synthesis.edge_fades(audio, rate), rate


_said_stand_in: set[tuple[str, str]] = set()


def _say_stand_in_once(voice: Voice, speaker: str, why: str) -> None:
    if (voice.name, speaker) not in _said_stand_in:
        _said_stand_in.add((voice.name, speaker))
        log.warning("%s; %s speaks the lines the voice '%s' has no recording of", why, speaker, voice.name)


def available_provider(voice: str = DEFAULT_VOICE, pace: str = synthesis.DEFAULT_PACE) -> Provider | None:
    """Who speaks, at run time, the lines ``voice`` has no shipped clip for: its own engine if installed,
    else the default voice's engine (both at ``pace``), else espeak-ng if on PATH (each stand-in said
    once), else None."""
    chosen = get_voice(voice)
    if synthesis.engine_installed(chosen.engine):
        return EngineProvider(chosen, pace)
    default = VOICES[DEFAULT_VOICE]
    if synthesis.engine_installed(default.engine):
        _say_stand_in_once(chosen, f"the voice '{default.name}'",
                           f"the voice '{chosen.name}' needs its engine ({chosen.install_hint})")
        return EngineProvider(default, pace)
    program = shutil.which("espeak-ng")
    if program is None:
        return None
    _say_stand_in_once(chosen, "espeak-ng (a robotic voice)",
                       f"no neural voice engine is installed ({default.install_hint})")
    return EspeakProvider(program)


# --- shipped clips and the cache -------------------------------------------------------------------------

def shipped_dir(voice: str = DEFAULT_VOICE) -> Path:
    """Where the voice's shipped clips and their manifest are."""
    return audio_dir() / "narration" / get_voice(voice).name


@lru_cache(maxsize=None)
def _manifest(voice: str = DEFAULT_VOICE) -> dict[str, dict]:
    path = shipped_dir(voice) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("the narration manifest %s is unreadable (%s); built-in clips are not used", path, err)
        return {}


def shipped_clip(text: str, voice: str = DEFAULT_VOICE, pace: str = synthesis.DEFAULT_PACE) -> Path | None:
    """The voice's bundled clip of ``text`` at ``pace`` (its stored text hash matches), if it is there."""
    entry = _manifest(voice).get(synthesis.clip_key(text, pace))
    if not entry:
        return None
    path = shipped_dir(voice) / entry["file"]
    return path if path.is_file() else None


def shipped_durations(voice: str = DEFAULT_VOICE, pace: str = synthesis.DEFAULT_PACE) -> dict[str, float]:
    """sha256 of the text → length in seconds of every shipped clip of the voice at ``pace`` (from its manifest)."""
    return {key.split("@")[0]: float(entry["duration_s"]) for key, entry in _manifest(voice).items()
            if entry.get("pace", synthesis.DEFAULT_PACE) == pace}


def cache_dir() -> Path:
    """Synthesized speech, under the one cache folder (``$COMPANION_CACHE_DIR`` moves it too)."""
    return folders.voice_cache_dir()


def _cache_path(provider_id: str, text: str) -> Path:
    return cache_dir() / f"{provider_id}-{synthesis.text_sha256(text)}.wav"


def cached_clip(text: str, provider_id: str | None = None) -> Path | None:
    """A cached synthesis of ``text``: the given provider's (never another voice's); with no provider
    (no engine left to speak), any provider's. Lines kept for this process only (the cache could not be
    written, see ``_keep_for_this_process``) count too."""
    folders_to_search = [cache_dir()] + ([_process_voice_dir] if _process_voice_dir else [])
    for folder in folders_to_search:
        if provider_id:
            path = folder / _cache_path(provider_id, text).name
            if path.is_file():
                return path
            continue
        found = sorted(folder.glob(f"*-{synthesis.text_sha256(text)}.wav"))
        if found:
            return found[0]
    return None


_process_voice_dir: Path | None = None     # where lines go when the cache cannot be written


def _keep_for_this_process(path: Path, audio: np.ndarray, rate_hz: int, err: OSError) -> Path:
    """Write a synthesized line that the voice cache could not take into a private folder that lives as
    long as this process: in memory (/dev/shm, a tmpfs) where there is one, else the system's temporary
    folder; removed at exit. The first time, one warning says why. (The engine reads clips by path, so
    the line still needs a name; it just is not kept for the next session.)"""
    global _process_voice_dir
    if _process_voice_dir is None:
        import atexit

        shm = Path("/dev/shm")
        where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
        _process_voice_dir = Path(tempfile.mkdtemp(prefix="companion-voice-", dir=where))   # 0700
        atexit.register(shutil.rmtree, _process_voice_dir, ignore_errors=True)
        log.warning("cannot write the voice cache %s (%s); synthesized lines are kept for this session only",
                    path.parent, err.strerror or err)
    kept = _process_voice_dir / path.name
    _write_atomically(kept, audio, rate_hz)
    return kept


def _write_atomically(path: Path, audio: np.ndarray, rate_hz: int) -> None:
    """Write a 16-bit WAV next to ``path`` and rename it into place, so a reader never sees half a file."""
    folders.make_private_folder(path.parent)    # 0700: what a person's routines say is theirs alone
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wav")
    os.close(handle)
    try:
        sf.write(tmp, audio, rate_hz, format="WAV", subtype="PCM_16")
        os.chmod(tmp, 0o600)          # the user's own lines, like the folder: theirs alone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _level(audio: np.ndarray, rate_hz: int) -> np.ndarray:
    """Scale to about TARGET_LUFS, never letting the peak pass MAX_PEAK_DB (quieter is fine)."""
    from companion.media.loudness import levelling_gain_db

    if not len(audio) or not np.any(audio):
        return audio
    gain_db = levelling_gain_db(audio, rate_hz, TARGET_LUFS, max_peak_db=MAX_PEAK_DB)
    return (audio * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def _synthesize_into_cache(provider: Provider, texts: list[str], progress: Progress | None) -> dict[str, Path]:
    """Synthesize each text on one worker thread (so playback keeps the other core) and cache it.

    Ctrl-C (or any error) in the waiting thread stops the worker after the line it is on.
    """
    stop = threading.Event()

    def work() -> dict[str, Path]:
        made: dict[str, Path] = {}
        for done, text in enumerate(texts, start=1):
            if stop.is_set():
                break
            audio, rate = provider.synthesize(text)
            if not len(audio):
                raise CompanionError(f"the voice produced no sound for {text!r}")
            path = _cache_path(provider.id, text)
            levelled = _level(audio, rate)
            try:
                _write_atomically(path, levelled, rate)
            except OSError as err:          # a read-only or full disk, a cache folder we may not write
                path = _keep_for_this_process(path, levelled, rate, err)
            made[text] = path
            if progress:
                progress(done, len(texts))
        return made

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="companion-voice")
    try:
        return pool.submit(work).result()
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True)


# --- what the engine calls --------------------------------------------------------------------------------

def _describe(routine: Routine, i: int, j: int) -> str:
    step = routine.steps[i]
    return f"step {i + 1} ('{step.title}') line {j + 1}: \"{step.spoken[j].text}\""


def _existing(text: str, voice: str, pace: str) -> Path | None:
    return shipped_clip(text, voice, pace) or cached_clip(text)


def line_audio(routine: Routine, *, voice: str = DEFAULT_VOICE,
               progress: Progress | None = None) -> dict[tuple[int, int], Path]:
    """(step index, line index) → a file that speaks the line (see the module docstring for the order).

    Lines without a recorded, shipped or cached clip are synthesized before this returns, on one worker
    thread; ``progress(done, total)`` is called after each. Raises BadInputError naming every line that
    has no possible voice.
    """
    provider: Provider | None = None
    provider_checked = False
    pace = routine.options.pace
    files: dict[tuple[int, int], Path] = {}
    pending: dict[tuple[int, int], str] = {}
    for i, step in enumerate(routine.steps):
        for j, line in enumerate(step.spoken):
            if line.clip is not None:
                files[(i, j)] = line.clip
                continue
            text = line.text or ""
            found = shipped_clip(text, voice, pace)
            if found is None:
                if not provider_checked:
                    provider, provider_checked = available_provider(voice, pace), True
                found = cached_clip(text, provider.id if provider else None)
            if found is None:
                pending[(i, j)] = text
            else:
                files[(i, j)] = found
    if pending:
        if provider is None:
            raise _no_voice_error([_describe(routine, i, j) for i, j in pending])
        made = _synthesize_into_cache(provider, list(dict.fromkeys(pending.values())), progress)
        files.update({key: made[text] for key, text in pending.items()})
    return dict(sorted(files.items()))


def line_durations(routine: Routine, voice: str = DEFAULT_VOICE) -> dict[tuple[int, int], float]:
    """(step, line) → seconds, cheaply: recorded and cached clips from their headers, shipped clips from the
    manifest, and lines not voiced yet estimated from their words (for listing and printing, not mixing)."""
    pace = routine.options.pace
    durations = shipped_durations(voice, pace)
    result: dict[tuple[int, int], float] = {}
    for i, step in enumerate(routine.steps):
        for j, line in enumerate(step.spoken):
            path = line.clip or (None if line.text is None else cached_clip(line.text))
            sha = synthesis.text_sha256(line.text) if line.text else ""
            if line.clip is None and sha in durations:
                result[(i, j)] = durations[sha]
            elif path is not None:
                result[(i, j)] = _header_seconds(path)
            else:
                result[(i, j)] = synthesis.estimated_seconds(line.text or "", synthesis.words_per_minute(pace))
    return result


def _header_seconds(path: Path) -> float:
    try:
        with quiet_c_stderr():            # libmpg123 notes on a damaged mp3 go to fd 2
            info = sf.info(str(path))
        return info.frames / info.samplerate
    except (RuntimeError, OSError):
        from companion.media.decode import clip_frames     # decodes what libsndfile cannot read

        return clip_frames(path, 48_000) / 48_000


def _unvoiced(routine: Routine, voice: str) -> list[tuple[int, int]]:
    """Lines with no recorded, shipped or cached clip yet."""
    return [(i, j) for i, step in enumerate(routine.steps) for j, line in enumerate(step.spoken)
            if line.clip is None and _existing(line.text or "", voice, routine.options.pace) is None]


def missing_lines(routine: Routine, voice: str = DEFAULT_VOICE) -> list[str]:
    """The lines that would have no voice, described as "step N ('Title') line M: \"text\"" (nothing is synthesized)."""
    if any(synthesis.engine_installed(v.engine) for v in VOICES.values()) or shutil.which("espeak-ng"):
        return []
    return [_describe(routine, i, j) for i, j in _unvoiced(routine, voice)]


def lines_to_synthesize(routine: Routine, voice: str = DEFAULT_VOICE) -> int:
    """How many lines ``line_audio`` would have to synthesize (0 for the built-ins)."""
    return len(_unvoiced(routine, voice))


def cue_audio(text: str, voice: str = DEFAULT_VOICE) -> Path | None:
    """An ambient cue: the voice's shipped clip if the text matches one (``voices.CUE_PHRASES`` are all
    shipped, also given without their full stop), else a cached or new synthesis, else None."""
    said = synthesis.normalise_text(text)
    for candidate in (said, said + ".") if said and said[-1] not in ".!?" else (said,):
        found = shipped_clip(candidate, voice)        # "Five minutes left" is the shipped "Five minutes left."
        if found:
            return found
    provider = available_provider(voice)
    found = cached_clip(text, provider.id if provider else None)
    if found or provider is None:
        return found
    try:
        return _synthesize_into_cache(provider, [text], None)[text]
    except CompanionError as err:
        log.warning("no voice for the cue %r: %s", text, err)
        return None


def _no_voice_error(described: list[str]) -> BadInputError:
    shown = described[:5] + ([f"and {len(described) - 5} more"] if len(described) > 5 else [])
    count = f"{len(described)} line{'s' if len(described) != 1 else ''}"
    return BadInputError(f"no voice for {count}: " + "; ".join(shown), hint=HOW_TO_GET_A_VOICE)
