"""The recording session: one line at a time, shown on its own in bold, counted in, recorded, cleaned, reviewed.

    line shown ──► count-in ──► recording (level meter, clipping warning) ──space──► cleaned take
        ▲                                                                        │
        └──────────── r retake ◄── review: space accept · l listen · s skip · q quit
An accepted take is saved at once (``lines.save_take``: the FLAC, then the routine), so ``q`` and Ctrl-C
lose nothing accepted and the routine on disk is always valid. A take with a problem (silent, clipped,
cut off) cannot be accepted: the review says what is wrong and asks for a retake. Keys come from
``terminal.keys.KeyReader`` (cbreak mode, restored on every way out); ``q`` never saves an unreviewed
take.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from companion.errors import BadInputError
from companion.studio.lines import PendingLine, save_take
from companion.studio.microphone import CLIP_WARN_DBFS, Recorder, play_back, resolve_input
from companion.studio.takes import clean_take, segment_from_samples, samples_from_segment
from companion.terminal.keys import KeyReader
from companion.terminal.text import visible

METER_EVERY_S = 0.05
METER_FLOOR_DB = -60.0
METER_WIDTH = 30
CLIP_SHOWN_S = 2.0            # how long the clipping warning stays after the last overload


@dataclass
class Outcome:
    routine: Path
    saved: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    remaining: int = 0
    interrupted: bool = False

    def summary(self) -> str:
        saved = f"Saved {len(self.saved)} take{'s' if len(self.saved) != 1 else ''} into {visible(str(self.routine))}"
        if self.remaining:
            return (f"{saved}; {self.remaining} line{'s' if self.remaining != 1 else ''} still without a "
                    f"recording: run `companion record {visible(str(self.routine))}` again to go on.")
        return f"{saved}."


class _Quit(Exception):
    pass


def record_lines(routine: Path, lines: list[PendingLine], *, device: str | None = None,
                 count_in_s: int = 3) -> Outcome:
    """Walk ``lines`` (module docstring). Returns what was saved; Ctrl-C returns with ``interrupted``."""
    microphone = resolve_input(device)
    keys = KeyReader()
    if not keys.enabled:
        raise BadInputError("record needs a terminal to read its keys (space, r, l, s, q)",
                            hint="run it in a terminal, or use --import FOLDER")
    outcome = Outcome(routine, remaining=len(lines))
    recorder = Recorder(microphone)
    _write(f"Recording from {visible(microphone.describe())}. Keys: space stop / accept, r retake, "
           "l listen back, s skip, q save and quit.\n")
    try:
        with keys:
            for number, line in enumerate(lines, start=1):
                _show_line(line, number, len(lines))
                if _record_one(line, recorder, keys, count_in_s, routine, outcome):
                    outcome.remaining -= 1
    except _Quit:
        _write("\n")
    except KeyboardInterrupt:
        recorder.stop()
        outcome.interrupted = True
        _write("\nInterrupted: every accepted take is saved.\n")
    return outcome


def _record_one(line: PendingLine, recorder: Recorder, keys: KeyReader, count_in_s: int, routine: Path,
                outcome: Outcome) -> bool:
    """Takes until one is accepted (True) or the line is skipped (False); raises _Quit on q."""
    while True:
        if not _count_in(keys, count_in_s):
            outcome.skipped.append(line.label)
            return False
        samples = _take(recorder, keys)
        if samples is None:
            outcome.skipped.append(line.label)
            return False
        if len(samples) == 0:
            continue
        take = clean_take(segment_from_samples(samples, recorder.rate_hz), line.text)
        if recorder.overflows:
            _write(f"  ! {recorder.overflows} input dropout(s): the computer was busy; listen back (l) first.\n")
        if take.problem:
            _write(f"  ✗ {take.problem}.\n    r retake, l listen back, s skip, q quit\n")
        else:
            _write(f"  ✓ {take.speech_s:.1f} s of speech, levelled to {take.loudness_lufs:.1f} LUFS.\n"
                   "    space accept, r retake, l listen back, s skip, q quit\n")
        choice = _review(keys, take, recorder.rate_hz)
        if choice == "accept":
            path = save_take(routine, line, take)
            outcome.saved.append(line.label)
            _write(f"  saved {path.parent.name}/{path.name}\n")
            return True
        if choice == "skip":
            outcome.skipped.append(line.label)
            return False


def _count_in(keys: KeyReader, seconds: int) -> bool:
    """Count down on screen; False when the line is skipped."""
    for left in range(seconds, 0, -1):
        _write(f"\r\x1b[K  {left} ...")
        deadline = time.monotonic() + 1.0
        while (wait := deadline - time.monotonic()) > 0:
            for key in keys.read(min(wait, 0.1)):
                if key.lower() == "q":
                    raise _Quit
                if key.lower() == "s":
                    _write("\r\x1b[K  skipped\n")
                    return False
    return True


def _take(recorder: Recorder, keys: KeyReader):
    """Record until space (the take), s (None: skip), r (empty: start again) or q."""
    recorder.start()
    _write("\r\x1b[K")
    _write("  Recording: speak the line, then press space.\n")
    clipped_at = -1e9
    try:
        while not recorder.full:
            for key in keys.read(METER_EVERY_S):
                key = key.lower()
                if key == " ":
                    _write("\r\x1b[K")
                    return recorder.stop()
                if key == "q":
                    raise _Quit
                if key == "s":
                    recorder.stop()
                    _write("\r\x1b[K  skipped\n")
                    return None
                if key == "r":
                    _write("\r\x1b[K  again:\n")
                    return recorder.stop()[:0]
            level = recorder.level_db()
            if level >= CLIP_WARN_DBFS:
                clipped_at = time.monotonic()
            _write("\r\x1b[K  " + _meter(level, recorder.seconds, time.monotonic() - clipped_at < CLIP_SHOWN_S))
        _write("\r\x1b[K  (the take reached its longest: stopped)\n")
        return recorder.stop()
    finally:
        recorder.stop()


def _review(keys: KeyReader, take, rate_hz: int) -> str:
    while True:
        for key in keys.read(0.1):
            key = key.lower()
            if key == " " and take.problem is None:
                return "accept"
            if key == "r":
                return "retake"
            if key == "s":
                return "skip"
            if key == "q":
                raise _Quit
            if key == "l":
                _write("  listening ...\n")
                play_back(samples_from_segment(take.segment), take.segment.frame_rate)


def _meter(level_db: float, seconds: float, clipping: bool) -> str:
    filled = int(round(METER_WIDTH * (max(level_db, METER_FLOOR_DB) - METER_FLOOR_DB) / -METER_FLOOR_DB))
    bar = "#" * filled + "-" * (METER_WIDTH - filled)
    warning = "  CLIPPING: move back or turn the input down" if clipping else ""
    return f"[{bar}] {max(level_db, METER_FLOOR_DB):5.0f} dB  {seconds:4.1f} s{warning}"


def _show_line(line: PendingLine, number: int, total: int) -> None:
    """The step title and the line itself, large: bold, wrapped short, with room around it."""
    width = max(30, min(shutil.get_terminal_size((80, 24)).columns - 6, 60))
    bold, plain = ("\x1b[1m", "\x1b[0m") if sys.stdout.isatty() else ("", "")
    text = visible(line.text or "(a recorded line without text)")
    wrapped = "\n".join("    " + bold + row + plain for row in textwrap.wrap(text, width=width))
    redo = "  (has a recording: this take replaces it)" if line.has_clip else ""
    kind = "hold cue" if line.is_cue else "line"
    _write(f"\n[{number}/{total}] {visible(line.step_title)}, {kind} {line.line_index + 1} ({line.label}){redo}\n\n"
           f"{wrapped}\n\n")


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
