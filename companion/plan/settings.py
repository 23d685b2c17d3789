"""User settings: defaults for the commands, read from one TOML file.

The file is ``config.toml`` in ``platformdirs.user_config_dir("companion")`` (``$COMPANION_CONFIG_DIR``
overrides the folder); no file means built-in defaults. Keys (all optional, top level)::

    music = ["~/Music/calm", "/srv/ambient/rain.flac"]   # files or folders; relative to this file
    device = "USB"              # output device: index or part of its name (see `companion devices`)
    cue_device = "earbud"       # second output for ambient cues (therapist's earbud)
    volume_db = -6              # start volume, dB (-40..12)
    balance_db = 2              # voice/music balance, dB, + = voice louder (-12..12)
    loudness_lufs = -22         # output loudness, LUFS (-35..-10)
    order = "shuffle"           # music order: "shuffle" or "name"
    voice = "joe"               # narration voice (see `companion voices`)
    journal = true              # record each session in the practice journal (`companion journal`)
    check_in = false            # ask tension (and pain) before and after each session
    check_in_spoken = false     # also speak those questions, in the session's voice

Command-line options always win: commands call ``effective(option_value, "key")``. A bad file raises
ConfigError naming the file, the key, what was given and what is allowed (unknown keys get a
"did you mean").
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from companion.errors import ConfigError
from companion.folders import config_dir
from companion.plan import numbers
from companion.plan.textfile import SETTINGS_MAX_BYTES, TOML_TOO_DEEP, read_text_file
from companion.plan.suggest import did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "config.toml"
ORDERS = ("shuffle", "name")


@dataclass(frozen=True)
class Settings:
    music: tuple[str, ...] = ()
    device: str | None = None
    cue_device: str | None = None
    volume_db: float = 0.0
    balance_db: float = 0.0
    loudness_lufs: float | None = None     # None: the routine's own loudness
    order: str = "shuffle"
    voice: str | None = None               # None: the default voice (the name is checked where it is used)
    journal: bool = True
    check_in: bool = False
    check_in_spoken: bool = False
    source: Path | None = None             # the file these came from; None = defaults only

    def items(self) -> list[tuple[str, Any]]:
        """(key, value) for every setting, in file order (``source`` left out)."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if f.name != "source"]


KEYS = tuple(f.name for f in fields(Settings) if f.name != "source")
_FLAGS = ("journal", "check_in", "check_in_spoken")
_RANGES = {"volume_db": numbers.VOLUME_DB, "balance_db": numbers.BALANCE_DB, "loudness_lufs": numbers.LOUDNESS_LUFS}


def config_path() -> Path:
    """Where the settings file lives (it need not exist)."""
    return config_dir() / CONFIG_FILE


def load_settings(path: Path | None = None) -> Settings:
    """Settings from ``path`` (default ``config_path()``); defaults when the file does not exist."""
    path = Path(path) if path is not None else config_path()
    try:
        text = read_text_file(path, max_bytes=SETTINGS_MAX_BYTES, what="settings file", error=ConfigError,
                              where=f"settings file {path}")
    except FileNotFoundError:
        return Settings()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"settings file {path}: not valid TOML ({err})",
                          hint="see `companion config --help` for the format") from err
    except RecursionError as err:
        raise ConfigError(f"settings file {path}: not valid TOML ({TOML_TOO_DEEP})") from err
    values: dict[str, Any] = {}
    for key, given in data.items():
        if key not in KEYS:
            raise ConfigError(f"settings file {path}: unknown key '{key}'",
                              hint=did_you_mean(key, KEYS, listing="known keys"))
        values[key] = _check(path, key, given)
    return Settings(**values, source=path)


def _check(path: Path, key: str, given: Any) -> Any:
    def bad(allowed: str) -> ConfigError:
        return ConfigError(f"settings file {path}: {key} = {given!r} is not allowed; allowed: {allowed}")

    if key == "music":
        items = [given] if isinstance(given, str) else given
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise bad("a path or a list of paths (strings) to music files or folders")
        return tuple(str(_resolve(path, i)) for i in items)
    if key == "voice":
        if not isinstance(given, str) or not given.strip():
            raise bad("a voice name (string); see `companion voices`")
        return given.strip()
    if key in ("device", "cue_device"):
        if isinstance(given, bool) or not isinstance(given, (str, int)) or (isinstance(given, str) and not given.strip()):
            raise bad("a device index (number) or part of its name (string); see `companion devices`")
        return str(given)
    if key in _FLAGS:
        if not isinstance(given, bool):
            raise bad("true or false")
        return given
    if key == "order":
        if given not in ORDERS:
            raise bad(" or ".join(repr(o) for o in ORDERS))
        return given
    return numbers.checked_number(given, f"settings file {path}: {key}", *_RANGES[key], error=ConfigError)


def _resolve(config_file: Path, entry: str) -> Path:
    return Path(os.path.normpath(config_file.parent / Path(entry).expanduser()))


def effective(option_value: Any, key: str, settings: Settings | None = None) -> Any:
    """The value a command uses: the command-line option when given, else the settings file's.

    ``option_value`` counts as not given when it is None or an empty tuple (click's unused
    ``multiple=True`` option). ``settings`` defaults to ``load_settings()``.
    """
    if key not in KEYS:
        raise KeyError(key)
    if option_value is not None and option_value != ():
        return option_value
    return getattr(settings if settings is not None else load_settings(), key)


def named_by(option_value: Any, key: str, option: str, settings: Settings | None = None) -> str:
    """Where ``effective(option_value, key, settings)`` came from, as an error message names it: the
    ``option`` ("--cue-device") when given on the command line, else "settings file PATH: key"."""
    if option_value is not None and option_value != ():
        return option
    source = (settings if settings is not None else load_settings()).source
    return option if source is None else f"settings file {source}: {key}"


def template() -> str:
    """A commented settings file holding the defaults, for ``companion config --init``."""
    lines = ["# companion settings. Every key is optional; command-line options win over this file.",
             '# music = ["~/Music/calm"]      # files or folders (relative paths: from this file)',
             '# device = "USB"                # output device: index or part of its name (companion devices)',
             '# cue_device = "earbud"         # second output for ambient cues',
             "# volume_db = 0                 # start volume, dB (-40..12)",
             "# balance_db = 0                # voice/music balance, dB, + = voice louder (-12..12)",
             "# loudness_lufs = -20           # output loudness, LUFS (-35..-10); default: the routine's",
             '# order = "shuffle"             # music order: "shuffle" or "name"',
             '# voice = "heart"               # narration voice: see `companion voices`',
             "# journal = true                # record sessions in the practice journal (companion journal)",
             "# check_in = false              # ask tension/pain (0-10) before and after each session",
             "# check_in_spoken = false       # also speak the check-in questions, in the session's voice"]
    return "\n".join(lines) + "\n"
