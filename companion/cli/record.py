"""``companion record``: the routine's lines in the therapist's own voice, recorded or imported.

Each accepted take is cleaned (``companion.studio.takes``), written as ``clips/<step>-<n>.flac`` beside
the routine and named in the routine file at once, so ``q``, Ctrl-C or a crash keep every accepted take
and leave the routine valid; the next run starts at the first line still without a recording.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from companion.errors import BadInputError, ExitCode
from companion.terminal.text import visible


@click.command("record")
@click.argument("routine", metavar="ROUTINE")
@click.option("--all", "every", is_flag=True, help="Record every line again, not only those without a recording.")
@click.option("--step", "step_id", metavar="ID", default=None, help="Record this step's lines (again).")
@click.option("--input", "input_device", metavar="DEVICE", default=None,
              help="Input device: index or part of its name (see `companion devices`); default: the system's.")
@click.option("--import", "import_folder", type=click.Path(path_type=Path), default=None, metavar="FOLDER",
              help="Use existing recordings in FOLDER instead (any format ffmpeg reads, e.g. a phone's m4a), "
                   "matched by name (<step>-<n>.m4a) or else in name order.")
@click.option("--count-in", "count_in_s", type=click.IntRange(0, 10), default=3, show_default=True,
              metavar="SECONDS", help="Seconds counted down on screen before each take.")
def record_command(routine: str, every: bool, step_id: str | None, input_device: str | None,
                   import_folder: Path | None, count_in_s: int) -> None:
    """Record a routine's lines in your own voice, or import recordings you already have.

    ROUTINE is your routine file (a built-in cannot be changed: `companion routines new FILE --from NAME`
    makes a copy). Each line is shown on its own, in bold, with its step; after a count-in, speak it.

    \b
    Keys: space stop / accept, r retake, l listen back, s skip the line, q save and quit.
    Takes are cleaned (silences cut, rumble filtered, levelled to the built-in voice) and saved as
    clips/<step>-<n>.flac next to the routine, which is updated in place (comments kept).

    \b
    Examples:
      companion record my-routine.toml
      companion record my-routine.toml --step settle --input USB
      companion record my-routine.toml --import ~/voice-memos
    """
    from companion.plan.routine import load_routine
    from companion.studio.lines import lines_to_record

    loaded = load_routine(routine)
    if loaded.builtin is not None:
        raise BadInputError(f"'{routine}' is a built-in routine and cannot be recorded over",
                            hint=f"make your own copy: companion routines new my-routine.toml --from {routine}")
    path = loaded.source
    lines = lines_to_record(loaded, every=every, step_id=step_id)
    if not lines:
        click.echo(f"Every line of {visible(str(path))} has a recording. Record again with --all or --step ID.")
        return
    if import_folder is not None:
        _import(path, lines, import_folder)
        return
    from companion.cli._common import interrupt_on_sigterm
    from companion.studio.session import record_lines

    interrupt_on_sigterm()              # SIGTERM like Ctrl-C: accepted takes kept, exit 130
    outcome = record_lines(path, lines, device=input_device, count_in_s=count_in_s)
    click.echo(outcome.summary())
    if outcome.interrupted:
        sys.exit(int(ExitCode.INTERRUPTED))


def _import(path: Path, lines, folder: Path) -> None:
    from companion.errors import AudioFileError
    from companion.studio.importer import audio_files, import_take, match_files
    from companion.studio.lines import save_take

    matches, left_over = match_files(lines, audio_files(folder))
    saved = 0
    for match in matches:
        name = visible(match.path.name)
        try:
            take = import_take(match)
        except AudioFileError as err:
            click.echo(f"Warning: skipped {name}: {visible(str(err))}", err=True)
            continue
        if take.problem:
            click.echo(f"Warning: skipped {name} for {match.line.label}: {take.problem}", err=True)
            continue
        written = save_take(path, match.line, take)
        saved += 1
        click.echo(f"  {match.line.label:<16} {name}: {take.duration_s:.1f} s, {take.loudness_lufs:.1f} LUFS "
                   f"-> {written.parent.name}/{written.name}")
    for extra in left_over:
        click.echo(f"  not used: {visible(extra.name)} (no line left to match)")
    still = len(lines) - saved
    tail = f"; {still} line{'s' if still != 1 else ''} still without a recording" if still else ""
    click.echo(f"Imported {saved} recording{'s' if saved != 1 else ''} into {visible(str(path))}{tail}.")
    if saved == 0:
        raise BadInputError(f"no recording in {visible(str(folder))} could be used", hint="see the warnings above")


COMMANDS = [record_command]
