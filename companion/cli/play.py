"""``companion play``: the guided session live on the speakers, with one-key controls.

With no sound output device at all, it says so in one line and renders the same session to a file
instead (in the user's Music folder, else their home folder), so the person still gets their session.
"""

from __future__ import annotations

from pathlib import Path

import click

from companion.cli import journal_hooks as hooks
from companion.cli._common import finish_playback, interrupt_on_sigterm, render_instead, session_options, with_settings
from companion.cli.journal_hooks import check_in_options, journal_option
from companion.controls import Command
from companion.cli.param_types import Number
from companion.errors import BadInputError, DeviceError
from companion.journal.checkin import CheckIn
from companion.plan import numbers
from companion.terminal.console import quiet_c_stderr


@click.command("play")
@click.argument("routine", required=False)
@session_options
@click.option("--device", help="Output device: index or part of its name (see `companion devices`).")
@click.option("--volume", "volume_db", type=Number(numbers.VOLUME_DB), default=None,
              metavar="DB", help="Start volume in dB (default: the settings file's, else 0; +/- keys change it).")
@click.option("--no-keys", is_flag=True, help="No key controls or status line: one log line per step.")
@click.option("--resume", is_flag=True,
              help="Pick up the last unfinished session (of ROUTINE, if given) at the step where it stopped, "
                   "with the same length and music seed.")
@journal_option
@check_in_options
def play_command(routine: str | None, from_step: str | None, minutes: float | None, music: tuple[Path, ...],
                 seed: int, loudness: float | None, order: str | None, voice: str | None, device: str | None,
                 volume_db: float | None, no_keys: bool, resume: bool, no_journal: bool, check_in: bool | None,
                 speak_check_in: bool | None, tension_before: int | None, pain_before: int | None, tension_after: int | None,
                 pain_after: int | None) -> None:
    """Play a guided session live (default: the default built-in routine).

    \b
    Keys while playing: space pause/resume, n/right next step, p/left repeat the prompt,
    e +30 s, +/- volume, v/m voice/music balance, q end gently, ? help. Ctrl-C fades out and exits.

    \b
    Examples:
      companion play
      companion play neck-and-shoulders --minutes 20 --music ~/Music/calm
      companion play --device USB --volume -6
      companion play wind-down --voice joe
      companion play quick-reset --check-in          # tension (and pain) 0-10, before and after
      companion play quick-reset --speak-check-in    # the same, each question also spoken
      companion play --resume                        # the last unfinished session, where it stopped
      companion play neck-and-shoulders --from jaw-release
    """
    from companion.output.device import preferred_rate_hz, resolve_device, warm_up
    from companion.output.player import play_session

    warm_up()
    from companion.journal.recorder import AFTER_HOLD_S, SessionRecorder, device_lost, ending_of, routine_start
    from companion.plan.routine import DEFAULT_ROUTINE, find_step, load_routine
    from companion.plan.settings import effective, load_settings, named_by

    interrupt_on_sigterm()     # until the player takes over
    settings = load_settings()
    chosen = with_settings(music, loudness, order, settings, voice=voice)
    device_named_by = named_by(device, "device", "--device", settings)
    device = effective(device, "device", settings)
    volume_db = effective(volume_db, "volume_db", settings)
    if resume:
        if from_step:
            raise BadInputError("--resume and --from both say where to start; give one of them")
        routine, start_step, resumed_minutes, seed = hooks.resume(routine)
        minutes = resumed_minutes if minutes is None else minutes
    routine = routine or DEFAULT_ROUTINE
    loaded = load_routine(routine)
    if not resume:
        start_step = find_step(loaded, from_step) if from_step else 0
    import companion.mix.assemble  # noqa: F401 - numpy and the mixer load while PortAudio scans the devices
    try:
        output = resolve_device(device, device_named_by)
    except DeviceError as err:
        from companion.cli.render import render_routine_to_file

        render_instead(err, "the session", "companion-session",
                       lambda path: render_routine_to_file(routine, path, minutes=minutes, seed=seed,
                                                           from_step=str(start_step + 1), **chosen))
        return  # the session was delivered, as a file: the job is done

    from companion.mix.assemble import build_session

    session = build_session(loaded, minutes=minutes, music=chosen["music"], seed=seed,
                            loudness_lufs=chosen["loudness"], shuffle=chosen["shuffle"],
                            rate_hz=preferred_rate_hz(output), volume_db=volume_db, voice=chosen["voice"],
                            start_step=start_step)
    if settings.balance_db:
        session.post(Command.BALANCE, settings.balance_db)
    asking = bool(effective(check_in, "check_in", settings) or speak_check_in) and not no_keys
    speaking = asking and bool(effective(speak_check_in, "check_in_spoken", settings))
    with hooks.spoken_questions(speaking, session, output, chosen["voice"]) as speaker:
        before = hooks.check_in_before(asking, CheckIn(tension_before, pain_before), speaker)
    recorder = SessionRecorder.off()
    if hooks.journal_wanted(no_journal, settings):
        recorder = SessionRecorder.begin(routine_start(
            loaded, ref=hooks.routine_ref(routine), planned_s=session.timeline.total_s, start_step=start_step,
            minutes=minutes, seed=seed, music=", ".join(str(m) for m in chosen["music"]),
            tension=before.tension, pain=before.pain), background=True)
    try:
        with quiet_c_stderr():      # ALSA's "underrun occurred" and the like; our own lines still show
            result = play_session(session, output, keys=not no_keys)
    except DeviceError:
        recorder.end(device_lost(session.status()))
        recorder.close()
        raise
    finally:
        close = getattr(session, "close", None)
        if close is not None:
            close()
    # The ending is held for the after-session answers: one write for both (see journal.recorder).
    recorder.end(ending_of(result), hold_s=0.0 if result.interrupted else AFTER_HOLD_S)
    try:
        finish_playback(result, hooks.pickup_line(result, routine=hooks.routine_ref(routine), minutes=minutes,
                                                  seed=seed, music=music))
        with hooks.spoken_questions(speaking, session, output, chosen["voice"]) as speaker:
            after = hooks.check_in_after(asking, before, CheckIn(tension_after, pain_after), speaker)
        recorder.after(tension=after.tension, pain=after.pain)
    finally:
        recorder.close()            # Ctrl-C while asking, an exit: the held ending is written now


COMMANDS = [play_command]
