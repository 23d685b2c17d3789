"""``companion routines``: list the built-in routines, print one as a sheet, check a routine file.

Lengths and step times come from the same planner the engine uses (``companion.plan.timeline.plan``), fed
with clip lengths that cost nothing to get (the narration manifest, clip headers, or a words-per-minute
estimate for lines not voiced yet), so listing never decodes or synthesizes audio.
"""

from __future__ import annotations

import textwrap

import click

from companion.cli.param_types import Number
from companion.errors import BadInputError
from companion.plan import numbers
from companion.terminal.text import visible
from companion.durations import clock
from companion.plan.routine import DEFAULT_ROUTINE, Routine, builtin_names, load_routine
from companion.plan.timeline import Timeline, fit_hold_scale, plan

PLAN_RATE_HZ = 1000         # millisecond frames: plenty for times printed as m:ss


def _counted(count: int, noun: str) -> str:
    """'1 step', '3 steps': a count as a person writes it."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _step_column(count: int) -> str:
    """The steps column of the routine lists: ' 1 step ', '12 steps' (the same width, numbers aligned)."""
    return f"{count:>2} {'step ' if count == 1 else 'steps'}"


def routine_plan(routine: Routine, minutes: float | None = None) -> Timeline:
    """The routine laid out as the engine would play it (holds fitted to ``minutes`` or the routine's own)."""
    from companion.narration import voicing

    durations = voicing.line_durations(routine)
    target = minutes if minutes is not None else routine.options.minutes
    scale = fit_hold_scale(routine, durations, target) if target else 1.0
    return plan(routine, durations, rate_hz=PLAN_RATE_HZ, hold_scale=scale)


@click.group(invoke_without_command=True)
@click.pass_context
def routines(ctx: click.Context) -> None:
    """List the built-in and installed routines with their length and number of steps.

    \b
    Examples:
      companion routines                       # the built-ins
      companion routines show wind-down        # one routine as a printable sheet
      companion routines check my-routine.toml # validate your own routine
      companion routines install evening-neck.companion.zip
    """
    if ctx.invoked_subcommand is not None:
        return
    names = builtin_names()
    width = max(len(f"{name} (default)" if name == DEFAULT_ROUTINE else name) for name in names)
    click.echo("Built-in routines:")
    for name in names:
        routine = load_routine(name)
        label = f"{name} (default)" if name == DEFAULT_ROUTINE else name
        length = clock(round(routine_plan(routine).total_s))
        click.echo(f"  {label:<{width}}  {length:>5}  {_step_column(len(routine.steps))}  {visible(routine.name)}")
        if routine.description:
            click.echo(textwrap.fill(visible(routine.description), width=78, initial_indent=" " * 4,
                                     subsequent_indent=" " * 4))
    _list_installed()
    click.echo("\nPlay one with 'companion play NAME'; print its steps with 'companion routines show NAME'.")


def _list_installed() -> None:
    """The routines installed from packs, marked as such and with their author."""
    from companion.errors import BadInputError
    from companion.packs.installed import installed_routines
    from companion.terminal.text import visible

    found = installed_routines()
    if not found:
        return
    click.echo("\nInstalled routines:")
    width = max(len(r.name) for r in found)
    for item in found:
        author = visible(item.manifest.author) if item.manifest else "unknown author"
        try:
            routine = load_routine(item.routine_file)
        except BadInputError as err:
            click.echo(f"  {item.name:<{width}}  (installed, by {author}) cannot be read: {visible(str(err))}")
            continue
        length = clock(round(routine_plan(routine).total_s))
        click.echo(f"  {item.name:<{width}}  {length:>5}  {_step_column(len(routine.steps))}  "
                   f"{visible(routine.name)} (installed, by {author})")


@routines.command()
@click.argument("routine", default=DEFAULT_ROUTINE, metavar="[ROUTINE]")
@click.option("--minutes", type=Number(numbers.SESSION_MINUTES), metavar="MINUTES", default=None,
              help="Show the times for a session fitted to this length (as play/render --minutes).")
@click.option("--lines/--no-lines", "show_lines", default=False, help="Also print the words that are spoken.")
def show(routine: str, minutes: float | None, show_lines: bool) -> None:
    """Print a routine's steps as a sheet: start time, what to do, and how long to hold.

    ROUTINE is a built-in name or a routine file; default: head-and-neck.

    \b
    Examples:
      companion routines show
      companion routines show quick-reset --lines
      companion routines show my-routine.toml --minutes 20 > sheet.txt
    """
    loaded = load_routine(routine)
    timeline = routine_plan(loaded, minutes)
    seconds = timeline.seconds
    click.echo(f"{visible(loaded.name)}: {clock(round(timeline.total_s))}, {_counted(len(loaded.steps), 'step')}")
    if loaded.description:
        click.echo(visible(loaded.description))
    click.echo("Use light pressure. Ease off or stop if anything hurts.\n")
    click.echo(f"{'start':>7}  {'step':<40} {'hold':>5}")
    for mark, step in zip(timeline.steps, loaded.steps):
        hold = seconds(mark.hold_end - mark.hold_start)
        click.echo(f"{clock(round(seconds(mark.start))):>7}  {f'{mark.index + 1}. {visible(step.title)}':<40} "
                   f"{clock(round(hold)) if hold > 0 else '':>5}".rstrip())
        if step.do != step.title:
            click.echo(f"{'':9}{visible(step.do)}")
        if step.breath and hold > 0:
            click.echo(f"{'':9}breathe in {step.breath.in_s:g} s, out {step.breath.out_s:g} s")
        if show_lines:
            cue_at = {e.line: e.start for e in timeline.voice if e.step == mark.index and e.line >= len(step.lines)}
            for j, line in enumerate(step.spoken):
                if j >= len(step.lines) and j not in cue_at:
                    continue                       # a hold cue that does not fit this length of hold
                said = f"\"{visible(line.text)}\"" if line.text else f"[{visible(line.clip.name)}]"
                at = f"{clock(round(seconds(cue_at[j] - mark.hold_start)))} into the hold: " if j in cue_at else ""
                click.echo(f"{'':9}  {at}{said}")
    click.echo(f"{clock(round(timeline.total_s)):>7}  end")


@routines.command()
@click.argument("file", metavar="FILE")
def check(file: str) -> None:
    """Check a routine file: format, values, length (at most 8 hours), audio files, a voice for every line.

    Every recorded clip and [session] music path must be readable audio; problems name the file, the
    step and the key.

    Exits 0 when the routine is ready to play, 2 (with the reason) when it is not. FILE may also be
    a built-in name.

    \b
    Examples:
      companion routines check my-routine.toml
      companion routines check quick-reset
    """
    from companion.narration import voicing
    from companion.mix.preflight import audio_problems, length_problem

    loaded = load_routine(file)
    problems = audio_problems(loaded)
    if problems:
        more = len(problems) - 1
        raise BadInputError(problems[0], hint=f"and {more} more audio path problem{'s' if more > 1 else ''}; "
                                              "check again after fixing this one" if more else None)
    missing = voicing.missing_lines(loaded)
    if missing:
        for line in missing:
            click.echo(f"  no voice: {visible(line)}", err=True)
        raise BadInputError(f"{loaded.name}: {len(missing)} line{'s' if len(missing) != 1 else ''} "
                            "would have no voice", hint=voicing.HOW_TO_GET_A_VOICE)
    timeline = routine_plan(loaded)
    too_long = length_problem(loaded, timeline.total_s)
    if too_long:
        raise BadInputError(too_long)
    lines = sum(len(step.spoken) for step in loaded.steps)
    to_make = voicing.lines_to_synthesize(loaded)
    made = f"; {to_make} will be synthesized before the first play" if to_make else ""
    click.echo(f"OK: {visible(loaded.name)}: {clock(round(timeline.total_s))}, {_counted(len(loaded.steps), 'step')}, "
               f"{_counted(lines, 'line')}{made}.")


@routines.command("new")
@click.argument("file", metavar="FILE")
@click.option("--from", "from_builtin", metavar="BUILTIN", default=None,
              help="Start from a copy of this built-in routine (see `companion routines`).")
def new(file: str, from_builtin: str | None) -> None:
    """Write a new routine file that works as written: a short commented template, or a built-in's copy.

    Never overwrites a file. The template's lines are built-in lines, so it plays at once with the
    built-in voice; change the words, then record them in your own voice with `companion record FILE`.

    \b
    Examples:
      companion routines new my-routine.toml
      companion routines new evening.toml --from wind-down
      companion routines check my-routine.toml
    """
    from pathlib import Path

    from companion.studio.new_routine import write_new_routine

    path = write_new_routine(Path(file), from_builtin)
    click.echo(f"Wrote {path}. Check it with 'companion routines check {path}', play it with "
               f"'companion play {path}', record your voice with 'companion record {path}'.")


@routines.command("install")
@click.argument("source", metavar="FILE.zip|FOLDER")
@click.option("--replace", is_flag=True, help="Replace an installed routine of the same name without asking.")
def install(source: str, replace: bool) -> None:
    """Install a routine pack (made with `companion pack`) so `companion play NAME` plays it.

    Everything is checked before anything is installed: the file names, types and sizes, the
    manifest's hashes, and the routine itself. A name that is installed already is replaced only if you
    agree (or give --replace).

    \b
    Examples:
      companion routines install evening-neck.companion.zip
      companion routines install ~/Downloads/evening-neck/ --replace
      companion play evening-neck
    """
    import sys
    from pathlib import Path

    from companion.packs.install import install as install_pack
    from companion.terminal.text import visible

    def ask(name: str) -> bool:
        return click.confirm(f"A routine named '{name}' is installed already. Replace it?", default=False)

    done = install_pack(Path(source), replace=replace, confirm=ask if sys.stdin.isatty() else None)
    verb = "Replaced" if done.replaced else "Installed"
    click.echo(f"{verb} '{visible(done.manifest.title)}' by {visible(done.manifest.author)} as {done.name}. "
               f"Play it with 'companion play {done.name}'.")


@routines.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove an installed routine (its recordings and music go with it; built-ins cannot be removed).

    \b
    Examples:
      companion routines remove evening-neck
    """
    from companion.packs.installed import remove_installed

    remove_installed(name)
    click.echo(f"Removed the installed routine '{name}'.")


COMMANDS = [routines]
