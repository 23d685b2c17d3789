"""``companion ambient``: unattended music for a treatment, with a long fade-out and private cues."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from companion.cli._common import (finish_playback, force_option, guard_output, interrupt_on_sigterm, length_text,
                                   loudness_option, music_option, order_option, render_instead, seed_option,
                                   voice_option, warn, with_settings, write_session)
from companion.cli.journal_hooks import journal_option, journal_wanted
from companion.cli.param_types import Number
from companion.errors import DeviceError
from companion.plan import numbers
from companion.terminal.console import quiet_c_stderr
from companion.terminal.text import visible


@click.command("ambient")
@click.option("--minutes", type=Number(numbers.AMBIENT_MINUTES), default=50.0, show_default=True,
              help="Session length, fade-out included.")
@music_option("Music file or folder (searched recursively); repeat for more. Default: the settings "
              "file's music, else the built-in music.")
@order_option("Track order (default: the settings file's, else shuffle).")
@seed_option("Shuffle seed: the same seed, the same order.")
@click.option("--fade-out", "fade_out_s", type=Number(numbers.AMBIENT_FADE_OUT_S), default=120.0, show_default=True,
              metavar="SECONDS", help="Raised-cosine fade at the end.")
@click.option("--end-chime", is_flag=True, help="One soft chime as the fade-out ends.")
@click.option("--cue", "cues", multiple=True, metavar="MINUTE:TEXT",
              help='A spoken note at a minute, e.g. --cue 45:"Five minutes left" (repeatable).')
@click.option("--cue-device", metavar="DEVICE",
              help="Send the cues, and only the cues, to this second output (index or part of its name).")
@click.option("--device", metavar="DEVICE", help="Room output: index or part of its name (see `companion devices`).")
@click.option("--volume", "volume_db", type=Number(numbers.VOLUME_DB), default=None, metavar="DB",
              help="Start volume in dB, -40 to 12 (default: the settings file's, else 0).")
@loudness_option("Music loudness (default: the settings file's, else -20).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Render to this file (.wav .flac .mp3 .ogg) instead of playing.")
@force_option
@click.option("--no-keys", is_flag=True, help="No key controls or status line.")
@voice_option
@journal_option
def ambient_command(minutes: float, music: tuple[Path, ...], order: str | None, seed: int, fade_out_s: float,
                    end_chime: bool, cues: tuple[str, ...], cue_device: str | None, device: str | None,
                    volume_db: float | None, loudness: float | None, output: Path | None, force: bool,
                    no_keys: bool, voice: str | None, no_journal: bool) -> None:
    """Ambient music for a treatment: runs unattended, never repeats a track back to back, fades out.

    Cues are spoken in the narration voice (--voice): the therapist's phrases "Halfway", "Five minutes
    left", "Time to turn over", "We're finishing now" and "Take your time getting up" are recorded in
    every voice; other text is synthesized; with no engine at all, a soft chime stands in. With
    --cue-device the room hears music only and the cues go to the second output (a therapist's earbud). Keys as in `companion play`
    (space pause, +/- volume, q end gently); settings from `companion config` fill in what is not given.
    With no sound device it renders the music to companion-ambient.mp3 in your Music folder (else your
    home folder), cues mixed in, and says where.

    \b
    Examples:
      companion ambient                                   # 50 minutes, built-in music
      companion ambient --minutes 60 --music ~/Music/calm --order name
      companion ambient --cue 45:"Five minutes left" --cue-device earbud --end-chime
      companion ambient --minutes 30 -o treatment.mp3 --cue 25:"Halfway" --voice joe
      companion ambient --minutes 30 -o treatment.mp3 --force    # replace the file from last time
    """
    from companion.plan.settings import effective, load_settings, named_by
    from companion.output.cue_feed import cue_audio_paths, parse_cues

    settings = load_settings()
    parsed = parse_cues(cues, minutes)
    chosen = with_settings(music, loudness, order, settings, voice=voice)
    loudness_lufs = -20.0 if chosen["loudness"] is None else chosen["loudness"]
    volume = effective(volume_db, "volume_db", settings)
    options = dict(minutes=minutes, music=chosen["music"], seed=seed, shuffle=chosen["shuffle"],
                   loudness_lufs=loudness_lufs, fade_out_s=fade_out_s, end_chime=end_chime, cues=parsed,
                   volume_db=volume)

    if output is not None:
        if cue_device:
            click.echo("Warning: --cue-device is ignored with -o: the cues are mixed into the file.", err=True)
        guard_output(output, music=chosen["music"] or ["builtin"], force=force)  # before any work
        options["cue_paths"] = cue_audio_paths(parsed, voice=chosen["voice"], say=warn)
        interrupt_on_sigterm()
        from companion.mix.assemble import build_ambient_session

        result = write_session(build_ambient_session(**options), output, seed=seed)
        click.echo(f"Wrote {visible(result.path)}: {length_text(result.seconds)} of ambient music"
                   f"{f', {len(parsed)} cue(s)' if parsed else ''}.")
        return
    _play(options, parsed, device=effective(device, "device", settings),
          cue_device=effective(cue_device, "cue_device", settings), keys=not no_keys, voice=chosen["voice"],
          named=(named_by(device, "device", "--device", settings),
                 named_by(cue_device, "cue_device", "--cue-device", settings)),
          journal=journal_wanted(no_journal, settings))


def _play(options: dict, parsed, *, device: str | None, cue_device: str | None, keys: bool, voice: str,
          named: tuple[str, str] = ("--device", "--cue-device"), journal: bool = True) -> None:
    """Play on the room ``device`` (and the cues on ``cue_device``); ``named``: where each name came from,
    for an error about it. ``journal``: record the session in the practice journal."""
    from companion.journal.recorder import SessionRecorder, ambient_start, device_lost, ending_of
    from companion.mix.assemble import build_ambient_session
    from companion.output.cue_feed import CueFeed, cue_audio_paths
    from companion.output.device import preferred_rate_hz, resolve_device
    from companion.output.player import play_session
    from companion.output.stream import Player

    try:
        room = resolve_device(device, named[0])
    except DeviceError as err:
        if cue_device:
            warn("--cue-device is ignored: with no room device the cues are mixed into the file")
        _render_instead(err, options, voice=voice)
        return
    cue_output = resolve_device(cue_device, named[1]) if cue_device else None
    options["cue_paths"] = cue_audio_paths(parsed, voice=voice, say=warn)
    session = build_ambient_session(**options, cues_separate=cue_output is not None,
                                    rate_hz=preferred_rate_hz(room))
    cue_thread = None
    cue_failure: list[BaseException] = []
    cue_results: list = []
    played = session
    if cue_output is not None:
        feed = CueFeed(session)
        played = feed.tap
        cue_player = Player(feed.source, cue_output, say=warn)

        def run_cues() -> None:
            try:
                cue_results.append(cue_player.run())
            except BaseException as err:  # noqa: BLE001 - reported once the room has finished
                cue_failure.append(err)
                feed.ended.set()

        cue_thread = threading.Thread(target=run_cues, name="companion-cues", daemon=True)
        cue_thread.start()
    recorder = (SessionRecorder.begin(ambient_start(options, session.timeline.total_s), background=True)
                if journal else SessionRecorder.off())
    try:
        with quiet_c_stderr():      # ALSA's "underrun occurred" and the like; our own lines still show
            result = play_session(played, room, keys=keys)
    except DeviceError:
        recorder.end(device_lost(session.status()))
        raise
    finally:
        if cue_thread is not None:
            feed.ended.set()
            cue_thread.join(timeout=5)
    recorder.end(ending_of(result))
    recorder.close()
    if cue_failure:
        click.echo(f"Warning: the cue device failed ({visible(cue_failure[0])}); the room music played on.", err=True)
    if cue_results and cue_results[0].underflows:
        click.echo(f"Warning: {cue_results[0].underflows} dropout(s) on the cue device.", err=True)
    finish_playback(result)


def _render_instead(err: DeviceError, options: dict, *, voice: str) -> None:
    """No sound device: the same ambient music (cues mixed in) as a file, so the treatment still has it."""
    from companion.mix.assemble import build_ambient_session
    from companion.output.cue_feed import cue_audio_paths

    def render(path: Path):
        options["cue_paths"] = cue_audio_paths(options["cues"], voice=voice, say=warn)
        return write_session(build_ambient_session(**options), path, seed=options["seed"])

    interrupt_on_sigterm()
    render_instead(err, "the ambient music", "companion-ambient", render)


COMMANDS = [ambient_command]
