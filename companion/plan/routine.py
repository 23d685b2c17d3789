"""Routine files: the TOML format, its model, and validation before any sound is made.

A routine is a list of steps; each step speaks its narration lines in order (each line may ask for a pause
after it, e.g. time to do a movement), then holds (with an optional chime at the start and end of the hold,
an optional breathing pace, and optional hold cues: short reminders spoken at a time into the hold, or on
the in- or out-breath of its pace). Everything the user can
get wrong is caught here, and each error names the file, the step and the key, what was given and what is
allowed. The format is documented in README.md ("Routine files").
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from companion.assets import routines_dir
from companion.datadir import installed_routine_file
from companion.errors import BadInputError, RoutineError
from companion.media.library import AUDIO_EXTENSIONS
from companion.plan.numbers import checked_number
from companion.plan.textfile import ROUTINE_MAX_BYTES, TOML_TOO_DEEP, read_text_file
from companion.plan.suggest import did_you_mean

DEFAULT_ROUTINE = "head-and-neck"
MAX_DURATION_S = 4 * 3600.0
# How far the music dips under the voice. With the voice 5 dB over the music bed, 18 dB keeps the voice
# >= 15 dB over the ducked music in ~99 % of 400 ms speaking windows of the built-ins (12 dB: 76-80 %,
# the built-in music's own swells eat the margin); measured by scripts/measure_content.py.
DEFAULT_DUCK_DB = 18.0
# How the narration is delivered (``[session] pace``): "normal" (~130 words a minute) or "slow" (~105, a
# darker voice, for bedtime). Each pace has its own renderings of the lines, shipped and synthesized alike
# (``companion.narration.synthesis.DELIVERIES`` says how each sounds).
PACES = ("normal", "slow")
_STEP_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Line:
    """One narration line: a text to speak, a recorded clip, or both (the text is then shown).

    ``pause_after_s`` is the silence after the line (time to do what it asks); None means the routine's
    ``line_gap_s``.
    """

    text: str | None
    clip: Path | None = None
    pause_after_s: float | None = None


@dataclass(frozen=True)
class HoldCue:
    """A short line spoken inside a step's hold, so eyes-closed practice is not left in silence.

    Where, as written: ``at_s`` seconds after the hold starts, or ``before_end_s`` seconds before it ends;
    ``fraction`` of the written hold is the same place as a share, so it scales with ``--minutes``.
    ``on`` ("in" or "out") moves the cue to the next start of that half of the step's breathing pace.
    """

    line: Line
    fraction: float
    on: str | None = None
    from_end: bool = False     # written as ``before_end``: when the hold is extended live, it moves with the end


@dataclass(frozen=True)
class Breath:
    """A breathing pace for a hold: inhale and exhale lengths in seconds."""

    in_s: float
    out_s: float


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    do: str
    lines: tuple[Line, ...]
    hold_s: float
    chime_start: bool = False
    chime_end: bool = False
    breath: Breath | None = None
    hold_cues: tuple[HoldCue, ...] = ()

    @property
    def spoken(self) -> tuple[Line, ...]:
        """Every line this step may speak: its lines, then its hold cues (line index = position here)."""
        return self.lines + tuple(cue.line for cue in self.hold_cues)


@dataclass(frozen=True)
class SessionOptions:
    music: tuple[str, ...] = ("builtin",)
    minutes: float | None = None
    duck_db: float = DEFAULT_DUCK_DB
    voice_db: float = 0.0
    loudness_lufs: float = -20.0
    crossfade_s: float = 6.0
    fade_in_s: float = 8.0
    fade_out_s: float = 20.0
    line_gap_s: float = 1.0
    chimes: bool | str = True    # False, True (the bowl) or "soft" (a darker bowl, for bedtime)
    pace: str = "normal"         # one of PACES: which renderings of the lines speak


@dataclass(frozen=True)
class Routine:
    name: str
    description: str
    steps: tuple[Step, ...]
    options: SessionOptions = field(default_factory=SessionOptions)
    source: Path | None = None
    builtin: str | None = None


# (type, low, high) per session key; bounds are inclusive.
_SESSION_NUMBERS: dict[str, tuple[float, float, str]] = {
    "minutes": (1.0, MAX_DURATION_S / 60.0, "minutes"),
    "duck_db": (3.0, 30.0, "dB"),
    "voice_db": (-12.0, 12.0, "dB"),
    "loudness_lufs": (-35.0, -10.0, "LUFS"),
    "crossfade_s": (0.5, 30.0, "s"),
    "fade_in_s": (5.0, 120.0, "s"),
    "fade_out_s": (15.0, 600.0, "s"),
    "line_gap_s": (0.0, 10.0, "s"),
}
_TOP_KEYS = ("name", "description", "session", "steps")
_SESSION_KEYS = (*_SESSION_NUMBERS, "music", "chimes", "pace")
_STEP_KEYS = ("id", "title", "do", "lines", "hold", "chime_start", "chime_end", "breath", "hold_cues")
_LINE_KEYS = ("text", "clip", "pause_after")
_CUE_KEYS = ("text", "clip", "at", "before_end", "on")
MAX_PAUSE_S = 60.0
_BREATH_KEYS = ("in_s", "out_s")


def builtin_names() -> list[str]:
    """Names of the built-in routines (file stems in companion/routines)."""
    return sorted(p.stem for p in routines_dir().glob("*.toml"))


def resolve_routine_path(name_or_path: str | Path) -> tuple[Path, str | None]:
    """A ROUTINE argument is a built-in name, a path, or the name of an installed pack; return the file
    and the built-in name if any."""
    text = str(name_or_path)
    builtin = routines_dir() / f"{text}.toml"
    if "/" not in text and "\\" not in text and not text.endswith(".toml") and builtin.is_file():
        return builtin, text
    path = Path(text).expanduser()
    music_hint = f"to play music with a session use --music, e.g.  companion play --music {shlex.quote(text)}"
    if path.is_dir():
        raise RoutineError(f"'{text}' is a folder, not a routine", hint=music_hint)
    if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS:
        raise RoutineError(f"'{text}' is an audio file, not a routine", hint=music_hint)
    if path.exists():          # a FIFO or a device too: read_text_file says what it is
        return path, None
    installed = installed_routine_file(text)
    if installed is not None:       # a pack installed with `companion routines install`
        return installed, None
    names = builtin_names()
    raise RoutineError(f"no routine named '{text}' and no such file",
                       hint=did_you_mean(text, names, listing="built-in routines"))


def load_routine(name_or_path: str | Path) -> Routine:
    """Load and fully validate a routine (built-in name or TOML path). Raises RoutineError."""
    path, builtin = resolve_routine_path(name_or_path)
    try:
        text = read_text_file(path, max_bytes=ROUTINE_MAX_BYTES, what="routine file", error=RoutineError)
    except FileNotFoundError as err:
        raise RoutineError(f"{path}: cannot read the routine file: {err.strerror}") from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RoutineError(f"{path}: not valid TOML: {err}", hint="see 'Routine files' in README.md") from err
    except RecursionError as err:
        raise RoutineError(f"{path}: not valid TOML: {TOML_TOO_DEEP}") from err
    return parse_routine(data, source=path, builtin=builtin)


def parse_routine(data: dict[str, Any], *, source: Path | None = None, builtin: str | None = None) -> Routine:
    """Validate a parsed TOML document into a Routine. Clip paths resolve relative to ``source``."""
    where = str(source) if source else "<routine>"
    base = source.parent if source else Path.cwd()
    _check_keys(data, _TOP_KEYS, where, "")
    name = _text(data, "name", where, "", required=True)
    description = _text(data, "description", where, "", required=False) or ""
    options = _parse_session(data.get("session", {}), where, base)
    raw_steps = data.get("steps")
    if raw_steps is None or raw_steps == []:
        raise RoutineError(f"{where}: the routine has no steps", hint="add at least one [[steps]] table")
    if not isinstance(raw_steps, list) or not all(isinstance(s, dict) for s in raw_steps):
        raise RoutineError(f"{where}: 'steps' must be an array of tables ([[steps]]), got {_kind(raw_steps)}")
    steps: list[Step] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_steps, start=1):
        step = _parse_step(raw, where, number, base)
        if step.id in seen:
            raise RoutineError(
                f"{where}: step {number}: id '{step.id}' is already used by step {seen[step.id]}",
                hint="step ids must be unique",
            )
        seen[step.id] = number
        steps.append(step)
    return Routine(name=name, description=description, steps=tuple(steps), options=options,
                   source=source, builtin=builtin)


def parse_duration(value: Any, where: str, key: str, *, allow_zero: bool = False) -> float:
    """Seconds (number) or "m:ss" / "h:mm:ss" → seconds; > 0 (or ≥ 0) and at most 4 hours."""
    seconds: float | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\d+(:[0-5]?\d){1,2}(\.\d+)?", value.strip()):
        seconds = 0.0
        for part in value.strip().split(":"):
            seconds = seconds * 60.0 + float(part)
    if seconds is None:
        raise RoutineError(f"{where}: '{key}' must be seconds (a number) or \"m:ss\", got {value!r}")
    low_ok = seconds >= 0 if allow_zero else seconds > 0
    if not low_ok or seconds > MAX_DURATION_S or seconds != seconds:
        allowed = "0" if allow_zero else "more than 0"
        raise RoutineError(f"{where}: '{key}' is {value!r}; allowed: {allowed} up to 4 hours (4:00:00)")
    return seconds


def _parse_session(raw: Any, where: str, base: Path) -> SessionOptions:
    if not isinstance(raw, dict):
        raise RoutineError(f"{where}: [session] must be a table, got {_kind(raw)}")
    _check_keys(raw, _SESSION_KEYS, where, "session.")
    values: dict[str, Any] = {}
    for key, (low, high, unit) in _SESSION_NUMBERS.items():
        if key in raw:
            values[key] = _number(raw[key], f"{where}: session.{key}", low, high, unit)
    if "chimes" in raw:
        chimes = raw["chimes"]
        if chimes != "soft" and not isinstance(chimes, bool):
            raise RoutineError(f"{where}: session.chimes must be true, false or \"soft\", got {chimes!r}")
        values["chimes"] = chimes
    if "pace" in raw:
        pace = raw["pace"]
        if pace not in PACES:
            raise RoutineError(f"{where}: session.pace must be " + " or ".join(f'"{p}"' for p in PACES)
                               + f", got {pace!r}", hint="\"slow\" speaks slower and softer, for bedtime")
        values["pace"] = pace
    if "music" in raw:
        music = raw["music"]
        items = [music] if isinstance(music, str) else music
        if not isinstance(items, list) or not items or not all(isinstance(m, str) and m for m in items):
            raise RoutineError(
                f"{where}: session.music must be \"builtin\", \"none\", a path, or a list of paths, got {music!r}")
        if "none" in items and len(items) > 1:
            raise RoutineError(f"{where}: session.music \"none\" (voice only) cannot be combined with other music")
        values["music"] = tuple(m if m in ("builtin", "none") else str((base / Path(m).expanduser())) for m in items)
    return SessionOptions(**values)


def _parse_step(raw: dict[str, Any], where: str, number: int, base: Path) -> Step:
    label = f"step {number}"
    if isinstance(raw.get("id"), str) and raw["id"]:
        label = f"step {number} ('{raw['id']}')"
    here = f"{where}: {label}"
    _check_keys(raw, _STEP_KEYS, here, "")
    step_id = _text(raw, "id", here, "", required=True)
    if not _STEP_ID.match(step_id):
        raise RoutineError(f"{here}: id '{step_id}' may only use a-z, 0-9 and '-' (starting with a letter or digit)")
    title = _text(raw, "title", here, "", required=True)
    do = _text(raw, "do", here, "", required=False) or title
    lines = _parse_lines(raw.get("lines", []), here, base)
    if "hold" not in raw:
        raise RoutineError(f"{here}: 'hold' is missing", hint='give the quiet time after the lines, e.g. hold = "1:30"')
    hold_s = parse_duration(raw["hold"], here, "hold", allow_zero=bool(lines))
    breath = None
    if "breath" in raw:
        b = raw["breath"]
        if not isinstance(b, dict):
            raise RoutineError(f"{here}: 'breath' must be a table like {{ in_s = 4, out_s = 6 }}, got {b!r}")
        _check_keys(b, _BREATH_KEYS, here, "breath.")
        if set(b) != set(_BREATH_KEYS):
            raise RoutineError(f"{here}: 'breath' needs both in_s and out_s, got {b!r}")
        breath = Breath(_number(b["in_s"], f"{here}: breath.in_s", 1.0, 20.0, "s"),
                        _number(b["out_s"], f"{here}: breath.out_s", 1.0, 20.0, "s"))
    cues = _parse_hold_cues(raw.get("hold_cues", []), here, base, hold_s, breath)
    return Step(
        id=step_id, title=title, do=do, lines=lines, hold_s=hold_s,
        chime_start=_bool(raw.get("chime_start", False), f"{here}: chime_start"),
        chime_end=_bool(raw.get("chime_end", False), f"{here}: chime_end"),
        breath=breath, hold_cues=cues,
    )


def _parse_hold_cues(raw: Any, here: str, base: Path, hold_s: float, breath: Breath | None) -> tuple[HoldCue, ...]:
    """``hold_cues = [{ at = "0:20", text = "..." }, { before_end = 10, text = "...", on = "out" }]``."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise RoutineError(f"{here}: 'hold_cues' must be a list of {{ at, text }} tables, got {_kind(raw)}",
                           hint='e.g. hold_cues = [{ at = "0:20", text = "Slow circles." }]')
    if raw and hold_s <= 0:
        raise RoutineError(f"{here}: 'hold_cues' need a hold; this step's hold is 0")
    cues: list[HoldCue] = []
    for index, item in enumerate(raw, start=1):
        at = f"{here}: hold_cues[{index}]"
        _check_keys(item, _CUE_KEYS, at, "")
        where = [key for key in ("at", "before_end") if key in item]
        if len(where) != 1:
            raise RoutineError(f"{at}: give exactly one of 'at' (time into the hold) or 'before_end' "
                               f"(time before it ends), got {', '.join(where) or 'neither'}")
        seconds = parse_duration(item[where[0]], at, where[0], allow_zero=where[0] == "at")
        too_late = seconds >= hold_s if where[0] == "at" else seconds > hold_s
        if too_late:
            raise RoutineError(f"{at}: '{where[0]}' is {item[where[0]]!r} but the hold lasts only {hold_s:g} s")
        on = item.get("on")
        if on is not None:
            if on not in ("in", "out"):
                raise RoutineError(f"{at}: 'on' must be \"in\" or \"out\" (the half of the breath), got {on!r}")
            if breath is None:
                raise RoutineError(f"{at}: 'on' needs the step's breathing pace",
                                   hint="add breath = { in_s = 4, out_s = 6 } to the step")
        line = _parse_line({k: v for k, v in item.items() if k in ("text", "clip")}, at, base)
        fraction = seconds / hold_s if where[0] == "at" else 1.0 - seconds / hold_s
        cues.append(HoldCue(line=line, fraction=fraction, on=on, from_end=where[0] == "before_end"))
    return tuple(sorted(cues, key=lambda cue: cue.fraction))


def _parse_lines(raw: Any, here: str, base: Path) -> tuple[Line, ...]:
    if not isinstance(raw, list):
        raise RoutineError(f"{here}: 'lines' must be a list of texts or {{ text, clip }} tables, got {_kind(raw)}")
    lines: list[Line] = []
    for index, item in enumerate(raw, start=1):
        at = f"{here}: lines[{index}]"
        if isinstance(item, str):
            if not item.strip():
                raise RoutineError(f"{at}: the text is empty")
            lines.append(Line(text=item.strip()))
            continue
        if not isinstance(item, dict):
            raise RoutineError(f"{at}: must be a text or a {{ text, clip, pause_after }} table, got {_kind(item)}")
        _check_keys(item, _LINE_KEYS, at, "")
        pause = None
        if "pause_after" in item:
            pause = _number(item["pause_after"], f"{at}: pause_after", 0.0, MAX_PAUSE_S, "s")
        lines.append(_parse_line({k: v for k, v in item.items() if k != "pause_after"}, at, base, pause))
    return tuple(lines)


def _parse_line(item: dict[str, Any], at: str, base: Path, pause_after_s: float | None = None) -> Line:
    """A ``{ text, clip }`` table → Line (text stripped, clip resolved against ``base`` and checked)."""
    text = item.get("text")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise RoutineError(f"{at}: 'text' must be a non-empty string, got {text!r}")
    clip = item.get("clip")
    if clip is None and text is None:
        raise RoutineError(f"{at}: give a 'text', a 'clip', or both")
    clip_path = None
    if clip is not None:
        if not isinstance(clip, str) or not clip:
            raise RoutineError(f"{at}: 'clip' must be a file path, got {clip!r}")
        clip_path = (base / Path(clip).expanduser()).resolve()
        if not clip_path.is_file():
            raise RoutineError(f"{at}: clip file not found: {clip_path}",
                               hint="clip paths are relative to the routine file")
    return Line(text=text.strip() if text else None, clip=clip_path, pause_after_s=pause_after_s)


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise RoutineError(f"{where}: unknown key '{prefix}{key}'", hint=did_you_mean(key, allowed, prefix=prefix))


def _text(table: dict[str, Any], key: str, where: str, prefix: str, *, required: bool) -> str | None:
    if key not in table:
        if required:
            raise RoutineError(f"{where}: '{prefix}{key}' is missing")
        return None
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise RoutineError(f"{where}: '{prefix}{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _number(value: Any, where: str, low: float, high: float, unit: str) -> float:
    return checked_number(value, where, low, high, unit, error=RoutineError)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise RoutineError(f"{where} must be true or false, got {value!r}")
    return value


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def find_step(routine: Routine, spec: str | int) -> int:
    """The 0-based index of the step ``spec`` names: its number as shown (1 = the first) or its id.

    Raises BadInputError (exit 2) naming the steps there are, for ``--from``.
    """
    text = str(spec).strip()
    ids = [step.id for step in routine.steps]
    if text.isdigit() and 1 <= int(text) <= len(ids):
        return int(text) - 1
    if text in ids:
        return ids.index(text)
    raise BadInputError(f"--from {text!r}: '{routine.name}' has no such step; "
                        + did_you_mean(text, ids, listing="its steps"),
                        hint=f"give a number from 1 to {len(ids)} or a step id")
