"""Text that came from a file or a file name, made safe to print: control characters shown, not obeyed.

A file name or a pack's manifest can hold escape sequences that would move the cursor, retitle or clear
the terminal; ``visible`` turns every control character into a visible ``\\xNN`` / ``\\uNNNN`` escape.
(The ``trust-input`` work plans one such function for every print; this one is meant to merge into it.)
"""

from __future__ import annotations

import unicodedata


def visible(text: str) -> str:
    """``text`` with control and format characters (C0, DEL, C1, bidi overrides) escaped."""
    out = []
    for char in str(text):
        if unicodedata.category(char) in ("Cc", "Cf") and char not in ("\u200d",):
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)
