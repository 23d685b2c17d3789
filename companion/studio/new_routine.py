"""``routines new``: a routine file that ``routines check`` accepts and that plays as written.

Either a copy of a built-in (its steps and session settings, with a header saying where it came from) or
a short commented template. The template's lines are word for word built-in lines, so they are voiced by
the shipped clips at once; the therapist then rewrites them and records them (``companion record``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from companion.errors import BadInputError
from companion.plan.routine import builtin_names, load_routine, resolve_routine_path

TEMPLATE = '''\
# A routine for companion, made by `companion routines new`. Every key is explained in README.md
# ("Routine files"). Check it with `companion routines check {file}`, play it with
# `companion play {file}`, record its lines in your own voice with `companion record {file}`.
name = "My routine"
description = "Five quiet minutes for the temples, neck and shoulders."

[session]
music = "builtin"                 # "builtin", "none" (voice only), a music file or folder, or a list
minutes = 5                       # the holds stretch or shrink (0.5x to 3x) to fit this length
chimes = true                     # true, false, or "soft"

[[steps]]
id = "settle"                     # unique: a-z, 0-9 and -; recordings are named after it
title = "Slow breaths"            # shown while playing
do = "Hands on your belly; slow breaths"
lines = [                         # spoken in order; a recorded line reads {{ text = "...", clip = "..." }}
  "Sit or lie comfortably. Let your shoulders drop.",
  "Rest your hands on your belly.",
]
hold = "0:40"                     # quiet time after the lines: seconds or "m:ss"
chime_end = true
breath = {{ in_s = 4, out_s = 6 }}

[[steps]]
id = "temples"
title = "Temples"
do = "Fingertips on your temples: slow, light circles"
lines = [
  "Move your fingertips to your temples.",
  "Press as lightly as you would touch your eyelid.",
]
hold = "0:40"
hold_cues = [                     # reminders inside the hold: `at` a time into it, or `before_end`
  {{ at = "0:15", text = "Fingertips on your temples. Slow, light circles." }},
]
chime_end = true

[[steps]]
id = "shoulders"
title = "Shoulders"
do = "Arms crossed, hands on opposite shoulders: squeeze gently, let go"
lines = [
  "Cross your arms. Rest each hand on the opposite shoulder.",
  "With your hands, squeeze on the in-breath. Let go on the out-breath.",
]
hold = "0:40"

[[steps]]
id = "closing"
title = "Closing"
do = "Take your time; sit up slowly"
lines = [
  "Take your time coming back.",
  "Sit up slowly. Some people feel dizzy or lightheaded at first.",
  "If you have severe pain, or new or worsening symptoms, contact your healthcare provider.",
]
hold = 0
'''

_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*#[^\n]*\n)+")


def new_routine_text(file_name: str, from_builtin: str | None = None) -> str:
    """The text of a new routine file: the template, or built-in ``from_builtin`` with a new header."""
    if from_builtin is None:
        return TEMPLATE.format(file=file_name)
    if from_builtin not in builtin_names():
        raise BadInputError(f"--from: no built-in routine named '{from_builtin}'",
                            hint=f"built-in routines: {', '.join(builtin_names())}")
    path, _ = resolve_routine_path(from_builtin)
    body = _LEADING_COMMENTS.sub("", path.read_text(encoding="utf-8"), count=1)
    header = (f"# A copy of companion's built-in routine '{from_builtin}', made by `companion routines new`.\n"
              f"# Lines that stay word for word as they are keep the built-in voice; record your own with\n"
              f"# `companion record {file_name}`. The format is in README.md (\"Routine files\").\n")
    return header + body


def write_new_routine(path: Path, from_builtin: str | None = None) -> Path:
    """Create ``path`` (never overwriting a file) and check that it loads. Returns the path."""
    path = Path(path)
    if path.suffix != ".toml":
        raise BadInputError(f"{path}: a routine file name ends in .toml", hint=f"try {path.name}.toml")
    if not path.parent.is_dir():
        raise BadInputError(f"{path.parent}: no such folder", hint="create it first, or give another path")
    text = new_routine_text(path.name, from_builtin)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError as err:
        raise BadInputError(f"{path}: the file already exists; nothing was changed",
                            hint="give another file name, or delete that file first") from err
    except OSError as err:
        raise BadInputError(f"{path}: cannot create the file: {err.strerror}") from err
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        load_routine(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
