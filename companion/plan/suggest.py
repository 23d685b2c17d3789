"""The "did you mean" for a name a person typed (a routine, a routine key, a settings key).

One rule everywhere: the closest allowed name when it is close enough (difflib ratio >= 0.6), else the
list of what is allowed, so a typo in a routine file and in the settings file get the same help.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def did_you_mean(given: str, allowed: Sequence[str], *, prefix: str = "", listing: str = "allowed") -> str:
    """``did you mean 'x'?`` for the closest of ``allowed`` (each shown with ``prefix``), else
    ``<listing>: a, b, c`` (``none`` when nothing is allowed)."""
    close = difflib.get_close_matches(given, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{prefix}{close[0]}'?"
    return f"{listing}: {', '.join(prefix + a for a in allowed) or 'none'}"
