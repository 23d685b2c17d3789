"""How the journal reads back: the table, the week's practice, a small tension trend, CSV and JSON.

Pure functions from rows to text, so ``companion journal`` and the report share one idea of a session's
ending, its check-in and a week. Text that came from a file or the person (routine names, notes) has its
control characters made visible before it reaches a terminal.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict
from datetime import datetime, timedelta

from companion.journal.schema import DEVICE_LOST, FINISHED, INTERRUPTED, QUIT, UNEXPECTED, SessionRow
from companion.durations import clock
from companion.terminal.text import visible

SPARK = "▁▂▃▄▅▆▇█"
SPARK_ASCII = "_.-=+*#@"
TREND_SESSIONS = 20


def ending_text(row: SessionRow) -> str:
    """"finished", "quit at step 3/7", "Ctrl-C at step 2/7", "device lost ...", "ended unexpectedly"."""
    ending = row.ending
    where = f" at step {row.step_reached + 1}/{row.step_count}" \
        if row.step_reached is not None and row.step_count else ""
    return {FINISHED: "finished", QUIT: f"quit{where}", INTERRUPTED: f"Ctrl-C{where}",
            DEVICE_LOST: f"device lost{where}", UNEXPECTED: "ended unexpectedly"}.get(ending, ending)


def change(before: int | None, after: int | None) -> str:
    """"6→3", "6→?", "" when neither was given."""
    if before is None and after is None:
        return ""
    return f"{'?' if before is None else before}→{'?' if after is None else after}"


def minutes_played(row: SessionRow) -> float:
    return (row.played_s or 0.0) / 60.0


def week_start(now: datetime) -> datetime:
    """Monday 00:00 of ``now``'s week, local time."""
    day = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def week_summary(rows: list[SessionRow], now: datetime | None = None) -> tuple[float, int]:
    """(minutes played, days practised) since Monday."""
    start = week_start(now or datetime.now().astimezone()).timestamp()
    this_week = [r for r in rows if r.started_unix >= start]
    days = {r.started.date() for r in this_week if (r.played_s or 0) > 0}
    return sum(minutes_played(r) for r in this_week), len(days)


def sparkline(values: list[float], low: float = 0.0, high: float = 10.0, *, ascii_only: bool = False) -> str:
    bars = SPARK_ASCII if ascii_only else SPARK
    span = max(high - low, 1e-9)
    return "".join(bars[min(len(bars) - 1, max(0, int((v - low) / span * (len(bars) - 1) + 0.5)))] for v in values)


def tension_trend(rows: list[SessionRow], *, ascii_only: bool = False) -> list[str]:
    """Lines showing tension before and after over the last sessions that have both, and the mean change."""
    pairs = [(r.tension_before, r.tension_after) for r in rows
             if r.tension_before is not None and r.tension_after is not None][-TREND_SESSIONS:]
    if not pairs:
        return ["Tension trend: no check-ins yet (companion play --check-in)."]
    mean = sum(a - b for b, a in pairs) / len(pairs)
    return [f"Tension, last {len(pairs)} check-in(s), 0-10:",
            f"  before {sparkline([b for b, _ in pairs], ascii_only=ascii_only)}",
            f"  after  {sparkline([a for _, a in pairs], ascii_only=ascii_only)}",
            f"  change {mean:+.1f} on average (negative: eased)"]


def table(rows: list[SessionRow]) -> list[str]:
    """The sessions as aligned text columns, oldest first."""
    header = ("Date", "Routine", "Played/planned", "How it ended", "Tension", "Pain")
    body = [(f"{r.started:%a %d %b %Y %H:%M}", visible(r.routine),
             f"{clock(round(r.played_s)) if r.played_s is not None else '?'}/{clock(round(r.planned_s))}",
             ending_text(r), change(r.tension_before, r.tension_after), change(r.pain_before, r.pain_after))
            for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *body]]


def notes(rows: list[SessionRow]) -> list[str]:
    return [f"{r.started:%a %d %b %Y}: {visible(r.note)}" for r in rows if r.note]


EXPORT_FIELDS = ("started", "routine", "routine_ref", "routine_hash", "kind", "planned_min", "played_min",
                 "ended", "step_reached", "step_count", "tension_before", "tension_after", "pain_before",
                 "pain_after", "note")


def export_record(row: SessionRow) -> dict:
    """One session as plain values for CSV and JSON (times in local ISO 8601, minutes to 0.01)."""
    plain = asdict(row)
    return {
        "started": row.started.isoformat(timespec="seconds"),
        "routine": row.routine, "routine_ref": row.routine_ref, "routine_hash": row.routine_hash,
        "kind": row.kind,
        "planned_min": round(row.planned_s / 60.0, 2),
        "played_min": None if row.played_s is None else round(row.played_s / 60.0, 2),
        "ended": row.ending,
        "step_reached": None if row.step_reached is None else row.step_reached + 1,
        "step_count": row.step_count,
        **{key: plain[key] for key in ("tension_before", "tension_after", "pain_before", "pain_after", "note")},
    }


def to_csv(rows: list[SessionRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(export_record(row))
    return out.getvalue()


def to_json(rows: list[SessionRow]) -> str:
    return json.dumps({"sessions": [export_record(r) for r in rows], "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                      indent=1, ensure_ascii=False) + "\n"
