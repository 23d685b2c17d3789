"""What the session commands (``play``, ``render``, ``ambient``) share, so they read the same words the
same way and end the same way.

- the options they share (music, order, seed, loudness, minutes, voice) and the settings merge behind them
  (command line, then the settings file, then the routine's own values);
- writing a session to a file with a progress bar on a terminal, and ``-f/--force`` with the check
  that an ``-o`` never names an input nor replaces a file unasked (``guard_output``);
- SIGTERM treated as Ctrl-C (a fade and exit code 130, never a half-written file);
- no sound device: the same session rendered to a file instead, said where (``render_instead``);
- the end of a live session: dropout warnings, the "Finished"/"Stopped at" line, the exit code;
- how a length is printed (``durations.clock``, rounded to the nearest second).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

import click

from companion.durations import clock
from companion.cli.param_types import Number
from companion.errors import ExitCode
from companion.plan import numbers
from companion.terminal.text import visible

MUSIC_HELP = ("Music file or folder (searched recursively), or 'none' for the voice alone; repeat for more. "
              "Default: the settings file's music, else the routine's.")
ORDER_HELP = "Music order (default: the settings file's, else shuffle)."
LOUDNESS_HELP = "Integrated loudness of the output (default: the routine's, normally -20)."
SEED_HELP = "Seed for the music shuffle; the same seed gives the same session."


def music_option(help_text: str = MUSIC_HELP) -> Callable:
    return click.option("--music", "music", multiple=True, type=click.Path(path_type=Path), metavar="PATH",
                        help=help_text)


def order_option(help_text: str = ORDER_HELP) -> Callable:
    return click.option("--order", type=click.Choice(["shuffle", "name"]), default=None, help=help_text)


def loudness_option(help_text: str = LOUDNESS_HELP) -> Callable:
    return click.option("--loudness", type=Number(numbers.LOUDNESS_LUFS), default=None, metavar="LUFS",
                        help=help_text)


def seed_option(help_text: str = SEED_HELP) -> Callable:
    return click.option("--seed", type=int, default=0, show_default=True, help=help_text)


def session_options(func: Callable) -> Callable:
    """The options `render` and `play` share, so both build the same session from the same words."""
    func = order_option()(func)
    func = loudness_option()(func)
    func = seed_option()(func)
    func = music_option()(func)
    func = click.option("--minutes", type=Number(numbers.SESSION_MINUTES), default=None, metavar="MINUTES",
                        help="Fit the session to this length by scaling its holds (0.5x to 3x).")(func)
    func = click.option("--from", "from_step", metavar="STEP", default=None,
                        help="Start at this step: its number (1 = the first) or its id; the holds keep the "
                             "length fitted for the whole routine.")(func)
    func = voice_option(func)
    return func


def voice_option(func: Callable) -> Callable:
    return click.option("--voice", default=None, metavar="NAME",
                        help="Narration voice (see `companion voices`; default: the settings file's, "
                             "else heart).")(func)


def chosen_voice(voice: str | None, settings) -> str:
    """The voice to speak in: ``--voice``, else the settings file's ``voice``, else the default. An unknown
    name is a one-line error naming where it came from (the option, or the settings file and key)."""
    from companion.errors import BadInputError, ConfigError
    from companion.narration.voices import DEFAULT_VOICE, get_voice
    from companion.plan.settings import effective

    name = effective(voice, "voice", settings)
    if name is None:
        return DEFAULT_VOICE
    try:
        return get_voice(name).name
    except BadInputError as err:
        if voice is None and settings.source is not None:
            raise ConfigError(f"settings file {settings.source}: voice: {err.message}",
                              hint="see the voices with: companion voices") from err
        raise


def with_settings(music: tuple[Path, ...], loudness: float | None, order: str | None, settings=None,
                  voice: str | None = None) -> dict:
    """Fill what the command line left out from the settings file (`companion config`; ``settings`` when
    the caller has loaded it already).

    Precedence: command line, then the settings file, then the routine's own [session] values.
    """
    from companion.plan.settings import effective, load_settings

    settings = settings if settings is not None else load_settings()
    return {
        "music": tuple(effective(music, "music", settings)),
        "loudness": effective(loudness, "loudness_lufs", settings),
        "shuffle": effective(order, "order", settings) != "name",
        "voice": chosen_voice(voice, settings),
    }


def interrupt_on_sigterm() -> None:
    """From now on SIGTERM (a service manager, `kill`) acts like Ctrl-C: a fade, cleanup, exit 130."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


def _raise_interrupt(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


FORCE_HELP = ("Replace the output file if it exists, without asking (without it: asked on a terminal, "
              "refused otherwise). A session's own input (music, clip, routine, settings) is never replaced.")


def force_option(func: Callable) -> Callable:
    """``-f/--force`` for the commands that write a file with ``-o``."""
    return click.option("-f", "--force", is_flag=True, help=FORCE_HELP)(func)


def guard_output(output: Path, *, routine=None, music=(), force: bool = False) -> None:
    """Before any work: refuse an ``-o`` that names an input of the session (exit 2, even with --force),
    and an existing file unless ``force`` or a person at the terminal says to replace it.

    ``music`` is what the session will play ("builtin", "none", files and folders); ``routine`` the
    loaded Routine, if any. See ``companion.output.destination``.
    """
    from companion.output.destination import check_destination, session_inputs
    from companion.output.export import output_format
    from companion.plan.settings import config_path

    output_format(output)  # a bad -o fails before any work
    inputs = session_inputs(routine=routine, music=music, settings_file=config_path())
    check_destination(output, inputs, force=force, ask=_confirm if sys.stdin.isatty() else None)


def _confirm(question: str) -> bool:
    return click.confirm(visible(question), default=False, err=True)


def write_session(session, output: Path, *, seed: int, show_progress: bool | None = None):
    """``export.render_to_file`` with a progress bar on stderr when it is a terminal (``show_progress``
    overrides); returns ``export.Rendered``."""
    from companion.output.export import render_to_file

    if show_progress is None:
        show_progress = sys.stderr.isatty()
    if not show_progress:
        return render_to_file(session, output, seed=seed)
    with click.progressbar(length=session.timeline.end, label=f"Rendering {output.name}", file=sys.stderr,
                           show_eta=True) as bar:
        def advance(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        return render_to_file(session, output, seed=seed, progress=advance)


def length_text(seconds: float) -> str:
    """A length as printed after a session or render: ``m:ss`` to the nearest second."""
    return clock(round(seconds))


def warn(text: str) -> None:
    """A one-line warning on stderr, first letter capitalised, full stop added."""
    click.echo(f"Warning: {visible(text[0].upper() + text[1:])}.", err=True)


def finish_playback(result, after_end_line: str | None = None) -> None:
    """The end of a live session: dropout and device warnings, the end line (and ``after_end_line``, e.g.
    the command that picks the session up), exit 130 when interrupted."""
    from companion.terminal.statusline import ending_line

    if result.underflows:
        click.echo(f"Warning: {result.underflows} audio dropout(s) (underflows) while playing.", err=True)
    for why in result.device_errors:
        click.echo(f"Warning: the sound device failed once ({visible(why)}) and playback resumed.", err=True)
    click.echo(ending_line(result.status, interrupted=result.interrupted, stopped_at=result.stopped_at))
    if after_end_line:
        click.echo(after_end_line)
    if result.interrupted:
        sys.exit(int(ExitCode.INTERRUPTED))


RENDER_ADVICE = "; `companion render -o FILE` works without a device"


def render_instead(err: Exception, what: str, stem: str, render: Callable[[Path], object]) -> None:
    """No sound device: say so in one line, then ``render(path)`` the same session to a new file in the
    person's Music folder (else home; ``destination.fallback_file``) and say where it is. Exit code stays 0:
    the session was delivered. ``what`` names it ("the session", "the ambient music"); ``render`` returns
    ``export.Rendered``. The device error's advice to run ``companion render`` is left out: that is being
    done here (and for ambient music it would make the wrong thing, a guided session)."""
    from companion.output.destination import fallback_file

    why = str(err).replace(RENDER_ADVICE, "")
    click.echo(f"{visible(why[0].upper() + why[1:])}.", err=True)
    path = fallback_file(stem)
    click.echo(f"Rendering {what} to a file instead: {visible(path)}", err=True)
    rendered = render(path)
    click.echo(f"Saved {visible(rendered.path)} ({length_text(rendered.seconds)}). Play it with any audio player.",
               err=True)
