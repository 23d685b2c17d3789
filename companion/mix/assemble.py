"""Assembling a session: routine + narration + music + levels → a ready-to-render ``Session``.

Everything that can fail because of the user's input fails here, before the first sample: the routine is
validated, every narration line has a voice, ``--minutes`` fits, the music paths exist. Music files that
turn out to be unreadable later are skipped while playing (see ``companion.mix.playlist``).

Levels are set from the parts, never by holding the session in memory: tracks are normalised to a music
bed level, clips to a voice level 5 dB above it (so the voice stands ≥ 15 dB over the ducked music), and the
bed level is chosen so the predicted integrated loudness of the whole plan meets the target.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from companion import ENGINE_RATE_HZ
from companion.media import library
from companion.assets import audio_dir
from companion.dsp.limiter import makeup_db
from companion.media.clips import ClipStore
from companion.mix.mixer import Levels, Mixer
from companion.mix.playlist import MusicStream
from companion.plan.routine import DEFAULT_DUCK_DB, Routine
from companion.mix.session import Session
from companion.media.decode import clip_frames, ffmpeg_path
from companion.plan.timeline import (DUCK_LEAD_S, DUCK_RELEASE_S, DUCK_TAIL_S, Timeline, fit_hold_scale, plan,
                                plan_ambient)

log = logging.getLogger("companion")

VOICE_OVER_MUSIC_DB = 5.0     # voice loudness over the music bed; with the 18 dB duck, 23 dB over the music


@dataclass(frozen=True)
class Cue:
    """A spoken note at a minute of an ambient session (``--cue 45:"Five minutes left"``)."""

    minute: float
    text: str


def chime_path(kind: str = "bowl") -> Path:
    return audio_dir() / "chimes" / f"{kind}.ogg"


def build_session(
    routine: Routine,
    *,
    minutes: float | None = None,
    music: Sequence[str | Path] = (),
    seed: int = 0,
    shuffle: bool = True,
    loudness_lufs: float | None = None,
    rate_hz: int = ENGINE_RATE_HZ,
    volume_db: float = 0.0,
    voice: str | None = None,
    start_step: int = 0,
) -> Session:
    """A Session for ``routine``. ``music`` (CLI paths) overrides the routine's own music setting; ``voice``
    names the narration voice (default: ``voices.DEFAULT_VOICE``).

    ``start_step`` (0-based; ``--from``, ``--resume``) starts at that step with the normal lead-in and fade-in;
    the holds keep the scale fitted for the whole routine, so a resumed session's steps last as they did.
    """
    from companion.narration import voicing
    from companion.narration.voices import DEFAULT_VOICE

    options = routine.options
    paths = voicing.line_audio(routine, voice=voice or DEFAULT_VOICE)
    durations = {key: clip_frames(path, rate_hz) / rate_hz for key, path in paths.items()}
    target_minutes = minutes if minutes is not None else options.minutes
    hold_scale = fit_hold_scale(routine, durations, target_minutes) if target_minutes else 1.0

    def replanner(*, start_step: int = 0, start_line: int = 0, origin: int = 0,
                  extra_holds: dict[int, float] | None = None) -> Timeline:
        return plan(routine, durations, rate_hz=rate_hz, paths=paths, hold_scale=hold_scale,
                    start_step=start_step, start_line=start_line, origin=origin, lead_in=False,
                    extra_holds=extra_holds)

    timeline = plan(routine, durations, rate_hz=rate_hz, paths=paths, hold_scale=hold_scale, start_step=start_step)
    target = options.loudness_lufs if loudness_lufs is None else loudness_lufs
    sources = list(music) or list(options.music)
    levels = plan_levels(timeline, target, duck_db=options.duck_db, voice_db=options.voice_db,
                         with_music=[str(s) for s in sources] != ["none"])
    stream = music_stream(sources, seed=seed, shuffle=shuffle, rate_hz=rate_hz,
                          target_lufs=levels.music_lufs, crossfade_s=options.crossfade_s)
    chime = chime_path("bowl-soft" if options.chimes == "soft" else "bowl") if options.chimes else None
    mixer = Mixer(timeline, music=stream, clips=ClipStore(rate_hz, levels.voice_lufs), chime=chime,
                  levels=levels)
    return Session(name=routine.name, mixer=mixer, replan=replanner, step_count=len(routine.steps),
                   volume_db=volume_db)


def build_ambient_session(
    *,
    minutes: float = 50.0,
    music: Sequence[str | Path] = (),
    seed: int = 0,
    shuffle: bool = True,
    loudness_lufs: float = -20.0,
    fade_out_s: float = 120.0,
    end_chime: bool = False,
    cues: Sequence[Cue] = (),
    cue_paths: dict[int, Path] | None = None,
    cues_separate: bool = False,
    rate_hz: int = ENGINE_RATE_HZ,
    volume_db: float = 0.0,
    crossfade_s: float = 6.0,
) -> Session:
    """Music for a treatment: ``minutes`` long, a long fade-out, optional spoken cues and an end chime.

    ``cue_paths[i]`` is the audio for ``cues[i]`` (from ``voicing.cue_audio``); a cue without audio plays the
    soft chime instead. With ``cues_separate`` the cues go to ``Session.render_cues`` and the room mix
    holds music only (and is not ducked).
    """
    paths = cue_paths or {}
    soft = chime_path("bowl-soft")
    cue_audio = [(cue.minute * 60.0, paths.get(i, soft), clip_frames(paths.get(i, soft), rate_hz))
                 for i, cue in enumerate(cues)]
    timeline = plan_ambient(minutes * 60.0, rate_hz=rate_hz, fade_out_s=fade_out_s, cues=cue_audio,
                            end_chime=end_chime, duck=not cues_separate)
    levels = Levels(music_lufs=loudness_lufs, voice_lufs=loudness_lufs + VOICE_OVER_MUSIC_DB,
                    duck_db=DEFAULT_DUCK_DB)
    stream = music_stream(list(music) or ["builtin"], seed=seed, shuffle=shuffle, rate_hz=rate_hz,
                          target_lufs=levels.music_lufs, crossfade_s=crossfade_s)
    mixer = Mixer(timeline, music=stream, clips=ClipStore(rate_hz, levels.voice_lufs),
                  chime=soft if end_chime else None, levels=levels, cue_bus=cues_separate)
    return Session(name="Ambient", mixer=mixer, replan=None, step_count=0, volume_db=volume_db)


def plan_levels(timeline: Timeline, target_lufs: float, *, duck_db: float, voice_db: float,
                with_music: bool = True) -> Levels:
    """Music bed and voice levels whose mix should integrate to ``target_lufs``.

    A voice-only session (``with_music`` False) puts the voice itself at the target: BS.1770's gates leave
    the silences between lines out of the integrated loudness, so the speech alone is what is measured.

    Energy model over the session: the bed at M where the music is up, M − duck where it is ducked, plus the
    voice at M + 5 dB + voice_db while it speaks. Solve for M. (Gating and fades move the result by a few
    tenths of a LU; the tests hold the rendered loudness to ±1 LU of the target.) Loud targets are planned
    louder by what the master limiter will take away from the speech peaks (``limiter.makeup_db``).
    """
    over = VOICE_OVER_MUSIC_DB + voice_db
    if not with_music:
        voice_lufs = target_lufs + makeup_db(target_lufs)
        return Levels(music_lufs=voice_lufs - over, voice_lufs=voice_lufs, duck_db=duck_db)
    total = max(timeline.end, 1)
    rate = timeline.rate_hz
    voiced = sum(event.frames for event in timeline.voice) / total
    ducked = sum(span.end - span.start + (DUCK_LEAD_S / 2 + DUCK_TAIL_S + DUCK_RELEASE_S / 2) * rate
                 for span in timeline.ducks) / total
    ducked = min(ducked, 1.0)
    energy = (1.0 - ducked) + ducked * 10 ** (-duck_db / 10) + voiced * 10 ** (over / 10)
    music_lufs = target_lufs + makeup_db(target_lufs) - 10.0 * math.log10(energy)
    return Levels(music_lufs=music_lufs, voice_lufs=music_lufs + over, duck_db=duck_db)


# The built-in tracks fade in and out by themselves over this long (audio/music/manifest.json ``fade_s``)
# with power-complementary fades; two of them overlap by exactly this, at unity gain (no dip).
BUILTIN_FADE_S = 12.0


def builtin_fade_s() -> float:
    """How long the built-in tracks fade in and out by themselves (their manifest's ``fade_s``)."""
    import json

    try:
        return float(json.loads((audio_dir() / "music" / "manifest.json").read_text())["fade_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return BUILTIN_FADE_S


def music_stream(sources: Sequence[str | Path], *, seed: int, shuffle: bool, rate_hz: int, target_lufs: float,
                 crossfade_s: float) -> MusicStream | None:
    """The music bus for ``sources`` ("builtin", "none", files, folders); unreadable user music falls back
    to the built-in tracks. ``["none"]`` means a voice-only session (no music bus)."""
    if [str(s) for s in sources] == ["none"]:
        return None
    builtin = [s for s in sources if str(s) == "builtin"]
    user = []
    for source in sources:
        if str(source) in ("builtin", "none"):
            continue
        if Path(source).expanduser().exists():
            user.append(source)
        else:
            log.warning("skipping music %s: not found", source)
    tracks = library.find_tracks(user) if user else []
    if not tracks and not builtin:
        log.warning("no music files found in %s; using the built-in music",
                    ", ".join(str(s) for s in sources) or "the given paths")
        builtin = ["builtin"]
    if builtin:
        tracks += library.builtin_tracks()
    tracks = list(dict.fromkeys(tracks))
    if tracks:
        # Every music file is decoded by ffmpeg: without it each would be skipped in turn and the session
        # would play silently where the music should be. Say so once, before the first sample.
        ffmpeg_path()

    def builtin_playlist() -> Iterator[Path]:
        bundled = library.builtin_tracks()
        return library.playlist(bundled, seed=seed, shuffle=shuffle) if bundled else iter(())

    # The built-in tracks fade in and out by themselves (power-complementary fades): a change into or out
    # of one lasts exactly that fade and fades only the other track (two built-ins just overlap at unity
    # gain), also among the user's music or as its fallback. (An equal-power crossfade on top faded a
    # built-in twice: 2.4-5.7 LU dips between two of them, ~3 LU between one and the user's music.)
    bundled = frozenset(library.builtin_tracks())
    playlist: Iterator[Path] = library.playlist(tracks, seed=seed, shuffle=shuffle) if tracks else iter(())
    return MusicStream(playlist, lambda path: library.track_info(path).loudness_lufs, rate_hz=rate_hz,
                       target_lufs=target_lufs, crossfade_s=crossfade_s,
                       fallback=builtin_playlist if user else None,
                       length_of=lambda path: library.track_info(path).duration_s,
                       fades_itself=bundled.__contains__ if bundled else None, self_fade_s=builtin_fade_s())
