"""``companion render``: a whole session to a file (wav, flac, mp3, ogg), with chapter marks."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from companion.plan.routine import DEFAULT_ROUTINE, load_routine

MUSIC_HELP = ("Music file or folder (searched recursively), or 'none' for the voice alone; repeat for more. "
              "Default: the settings file's music, else the routine's.")


def session_options(func):
    """The options `render` and `play` share, so both build the same session from the same words."""
    func = click.option("--order", type=click.Choice(["shuffle", "name"]), default=None,
                        help="Music order (default: the settings file's, else shuffle).")(func)
    func = click.option("--loudness", type=click.FloatRange(-35, -10), default=None, metavar="LUFS",
                        help="Integrated loudness of the output (default: the routine's, normally -20).")(func)
    func = click.option("--seed", type=int, default=0, show_default=True,
                        help="Seed for the music shuffle; the same seed gives the same session.")(func)
    func = click.option("--music", "music", multiple=True, type=click.Path(path_type=Path), metavar="PATH",
                        help=MUSIC_HELP)(func)
    func = click.option("--minutes", type=click.FloatRange(1, 240), default=None,
                        help="Fit the session to this length by scaling its holds (0.5x to 3x).")(func)
    return func


def with_settings(music: tuple[Path, ...], loudness: float | None, order: str | None, settings=None) -> dict:
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
    }


def render_routine_to_file(routine_name: str, output: Path, *, minutes: float | None = None,
                           music: tuple[Path, ...] = (), seed: int = 0, loudness: float | None = None,
                           shuffle: bool = True, show_progress: bool | None = None):
    """Build the session for ``routine_name`` and write it to ``output``; returns ``export.Rendered``."""
    from companion.mix.assemble import build_session
    from companion.output.export import output_format, render_to_file

    output_format(output)  # a bad -o fails before any work
    routine = load_routine(routine_name)
    session = build_session(routine, minutes=minutes, music=music, seed=seed, loudness_lufs=loudness,
                            shuffle=shuffle)
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    if not show_progress:
        return render_to_file(session, output, seed=seed)
    with click.progressbar(length=session.timeline.end, label=f"Rendering {output.name}", file=sys.stderr,
                           show_eta=True) as bar:
        last = [0]

        def advance(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - last[0])
            last[0] = done

        return render_to_file(session, output, seed=seed, progress=advance)


def _sigterm_as_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


@click.command()
@click.argument("routine", default=DEFAULT_ROUTINE, metavar="[ROUTINE]")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write; the format comes from the extension: .wav .flac .mp3 .ogg")
@session_options
def render(routine: str, output: Path, minutes: float | None, music: tuple[Path, ...], seed: int,
           loudness: float | None, order: str | None) -> None:
    """Render a session to an audio file, with a chapter mark for each step.

    ROUTINE is a built-in name (see `companion routines`) or a routine file; default: head-and-neck.
    Options left out come from the settings file (`companion config`), then from the routine.
    The file is written under a temporary name and renamed when complete, so an error or Ctrl-C
    never leaves half a file. Chapters: ID3 chapters (mp3), CHAPTER comments (ogg, flac), a .cue sheet (wav).

    \b
    Examples:
      companion render -o session.mp3
      companion render quick-reset -o reset.ogg --music ~/Music/calm --seed 3
      companion render my-routine.toml -o evening.wav --minutes 20 --loudness -23
    """
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    result = render_routine_to_file(routine, output, minutes=minutes, seed=seed,
                                    **with_settings(music, loudness, order))
    minutes_s = int(round(result.seconds))
    extra = f" and {result.sidecar.name}" if result.sidecar else ""
    click.echo(f"Wrote {result.path}{extra}: {minutes_s // 60}:{minutes_s % 60:02d}, "
               f"{len(result.chapters)} chapters.")


COMMANDS = [render]
