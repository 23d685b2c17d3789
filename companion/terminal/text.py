"""Text from files and file names, made safe to print: control characters shown, never obeyed.

A routine title, a music file's name or a key in a settings file can hold ESC (colours, cursor moves, a
retitled window), CR (overwrite the start of the line), LF (a forged extra line, e.g. a fake "OK:"), BEL,
C1 controls (0x80–0x9f; 0x9b is a one-byte CSI on some terminals) or bidi overrides (text shown
reversed). Every print of such text goes through ``visible`` so a person sees ``\\x1b`` instead of a
terminal that changes under them. Printable text, accents and other scripts are left as they are.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI = [*range(0x200E, 0x2010), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE = {code: _NAMED.get(chr(code), f"\\x{code:02x}")
          for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)]}
_TABLE.update({code: f"\\u{code:04x}" for code in _BIDI})


def visible(text: object) -> str:
    """``str(text)`` with every control character (C0, DEL, C1, bidi controls) written as an escape."""
    return str(text).translate(_TABLE)
