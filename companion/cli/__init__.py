"""The ``companion`` command line: thin commands over the library.

Each command lives in its own module in this package, named as the command, and is imported only when
that command runs (or when help lists them all): ``companion journal`` then starts without loading the
routine model, the music library or the audio engine (see ``scripts/bench_journal.py``). Commands parse, call one library function, and print. Every ``CompanionError`` becomes one
``Error: ...`` line on stderr and the error's exit code, here and nowhere else; Ctrl-C exits 130.
"""

from __future__ import annotations

import logging
import sys

import click

from companion import __version__
from companion.terminal.console import STDERR_LOCK
from companion.errors import CompanionError, ExitCode
from companion.cli.param_types import NumberRefused
from companion.terminal.text import visible


class CompanionGroup(click.Group):
    """A click group that turns domain errors into one clean line and an exit code, and imports a
    command's module only when the command is wanted (click's lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMAND_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            _attach(cmd_name)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):  # noqa: D401 - click API
        try:
            return super().invoke(ctx)
        except NumberRefused as err:     # a number option: one line, like a bad setting
            with STDERR_LOCK:
                click.echo(f"Error: {visible(err.message)}", err=True)
            sys.exit(int(ExitCode.BAD_INPUT))
        except CompanionError as err:
            with STDERR_LOCK:
                click.echo(f"Error: {visible(err)}", err=True)
            sys.exit(int(err.exit_code))
        except KeyboardInterrupt:
            with STDERR_LOCK:
                click.echo("Interrupted.", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))


@click.group(cls=CompanionGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="companion")
def main() -> None:
    """companion: soft music and a calm voice for head-and-neck self-massage, offline.

    \b
    Examples:
      companion play                     # the default guided session on your speakers
      companion render -o session.mp3    # the same session as a file
      companion routines                 # the built-in routines
    """
    _log_warnings_as_lines()


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.capitalize()}: {visible(record.getMessage())}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (see companion.terminal.console.quiet_c_stderr)."""

    def emit(self, record: logging.LogRecord) -> None:
        with STDERR_LOCK:  # see companion.terminal.console
            self.stream = sys.stderr
            super().emit(record)


def _log_warnings_as_lines() -> None:
    """Library warnings (a skipped music file, a missing voice) become one "Warning: ..." line on stderr."""
    logger = logging.getLogger("companion")
    if not any(getattr(h, "_companion", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_OneLine())
        handler._companion = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


# Command modules in this package, each exporting COMMANDS = [its click command, named as the module].
COMMAND_MODULES: tuple[str, ...] = ("play", "render", "ambient", "journal", "report", "remind", "routines", "record",
                                    "pack", "voices", "devices", "music", "config", "help")


def _attach(name: str) -> None:
    import importlib

    module = importlib.import_module(f"companion.cli.{name}")
    for command in module.COMMANDS:
        main.add_command(command)
