"""``companion render``: a whole session to a file (wav, flac, mp3, ogg), with chapter marks."""

from __future__ import annotations

from pathlib import Path

import click

from companion.cli._common import (force_option, guard_output, interrupt_on_sigterm, length_text, session_options,
                                   with_settings, write_session)
from companion.plan.routine import DEFAULT_ROUTINE, load_routine
from companion.terminal.text import visible

def render_routine_to_file(routine_name: str, output: Path, *, minutes: float | None = None,
                           music: tuple[Path, ...] = (), seed: int = 0, loudness: float | None = None,
                           shuffle: bool = True, voice: str | None = None, show_progress: bool | None = None,
                           force: bool = False, from_step: str | None = None):
    """Build the session for ``routine_name`` and write it to ``output``; returns ``export.Rendered``.

    ``output`` is checked first (``guard_output``): nothing is built for an -o that would be refused.
    ``from_step`` (``--from``: a step number or id) starts the session at that step.
    """
    from companion.mix.assemble import build_session
    from companion.output.export import output_format
    from companion.plan.routine import find_step

    output_format(output)  # a bad -o fails before any work
    routine = load_routine(routine_name)
    guard_output(output, routine=routine, music=music or routine.options.music, force=force)
    start_step = find_step(routine, from_step) if from_step else 0
    session = build_session(routine, minutes=minutes, music=music, seed=seed, loudness_lufs=loudness,
                            shuffle=shuffle, voice=voice, start_step=start_step)
    return write_session(session, output, seed=seed, show_progress=show_progress)


@click.command()
@click.argument("routine", default=DEFAULT_ROUTINE, metavar="[ROUTINE]")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write; the format comes from the extension: .wav .flac .mp3 .ogg")
@force_option
@session_options
def render(routine: str, output: Path, force: bool, from_step: str | None, minutes: float | None,
           music: tuple[Path, ...], seed: int, loudness: float | None, order: str | None, voice: str | None) -> None:
    """Render a session to an audio file, with a chapter mark for each step.

    ROUTINE is a built-in name (see `companion routines`) or a routine file; default: head-and-neck.
    Options left out come from the settings file (`companion config`), then from the routine.
    The file is written under a temporary name and renamed when complete, so an error or Ctrl-C
    never leaves half a file. Chapters: ID3 chapters (mp3), CHAPTER comments (ogg, flac), a .cue sheet (wav).
    An existing file is replaced only with --force or when you say yes at the terminal; an -o that
    names one of the session's own inputs (a music file, a clip, the routine, the settings) is refused.

    \b
    Examples:
      companion render -o session.mp3
      companion render quick-reset -o reset.ogg --music ~/Music/calm --seed 3
      companion render my-routine.toml -o evening.wav --minutes 20 --loudness -23
      companion render wind-down -o bedtime.mp3 --voice joe
      companion render -o session.mp3 --force             # replace last week's file
      companion render neck-and-shoulders --from 3 -o from-step-3.ogg
    """
    interrupt_on_sigterm()
    result = render_routine_to_file(routine, output, minutes=minutes, seed=seed, force=force, from_step=from_step,
                                    **with_settings(music, loudness, order, voice=voice))
    extra = f" and {result.sidecar.name}" if result.sidecar else ""
    click.echo(f"Wrote {visible(result.path)}{visible(extra)}: {length_text(result.seconds)}, {len(result.chapters)} chapters.")


COMMANDS = [render]
