"""One exception family for everything the user can get wrong or the machine can refuse.

Messages say what was given, what is allowed, and what to do. Foreign errors (PortAudio, ffmpeg,
TOML parsers) are wrapped where they enter, with ``raise ... from``. The CLI turns any
``CompanionError`` into one ``Error: ...`` line and the error's exit code.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1          # runtime failure: device, decoder, disk
    BAD_INPUT = 2        # a routine, option, setting or path the user gave is wrong
    INTERRUPTED = 130    # Ctrl-C / SIGTERM


class CompanionError(Exception):
    """Base of every error companion reports to a person."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadInputError(CompanionError):
    """Something the user supplied is wrong; fixing the input fixes it."""

    exit_code = ExitCode.BAD_INPUT


class RoutineError(BadInputError):
    """A routine file is invalid. The message names file, step and key."""


class ConfigError(BadInputError):
    """The settings file is invalid."""


class AudioFileError(CompanionError):
    """An audio file could not be decoded (missing, empty, corrupt, not audio)."""


class ToolMissingError(CompanionError):
    """A system program companion needs (ffmpeg) is not installed."""


class DeviceError(CompanionError):
    """No usable sound output, or the device failed."""


class Interrupted(CompanionError):
    exit_code = ExitCode.INTERRUPTED
