"""The one check for every number a person can type that reaches a gain or a length.

Command-line options (through ``companion.cli.param_types.Number``), the settings file and routine files all
call ``checked_number``, so NaN, ±inf, booleans, strings and out-of-range values are refused the same way
everywhere, with the same words: what was given, where, and what is allowed. NaN needs its own test
because every comparison with it is false: ``low <= nan <= high`` is False but ``not (nan < low)`` is True,
which is how a NaN used to slip through click's ``FloatRange``.

The shared ranges live here too, so an option and the settings key that stands for it cannot disagree.
"""

from __future__ import annotations

import math
from typing import Any

from companion.errors import BadInputError

# (low, high, unit) — bounds inclusive.
VOLUME_DB = (-40.0, 12.0, "dB")
BALANCE_DB = (-12.0, 12.0, "dB")
LOUDNESS_LUFS = (-35.0, -10.0, "LUFS")
SESSION_MINUTES = (1.0, 240.0, "minutes")
AMBIENT_MINUTES = (0.25, 600.0, "minutes")
AMBIENT_FADE_OUT_S = (5.0, 1800.0, "s")


def checked_number(given: Any, where: str, low: float, high: float, unit: str,
                   error: type[BadInputError] = BadInputError) -> float:
    """``given`` as a float when it is a finite number (not a bool) from ``low`` to ``high``; else raise
    ``error`` naming ``where`` (e.g. "settings file F: volume_db"), the value and the allowed range."""
    if isinstance(given, bool) or not isinstance(given, (int, float)):
        raise error(f"{where} must be a number ({unit}), got {given!r}")
    try:
        value = float(given)
    except OverflowError:      # an integer too large for a float (TOML integers are unbounded)
        value = math.inf
    if not math.isfinite(value) or not low <= value <= high:
        raise error(f"{where} is {given!r}; allowed: a number from {low:g} to {high:g} ({unit})")
    return value
