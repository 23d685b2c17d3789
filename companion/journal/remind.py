"""Practice reminders as an iCalendar file (RFC 5545) that any phone or desktop calendar imports.

No account and no server: one weekly recurring event (``RRULE:FREQ=WEEKLY;BYDAY=...``) at the chosen time,
in floating local time (it rings at 19:30 wherever the person is), with a display alarm at its start and
the command to run in its description. Built with the icalendar library, so escaping, line folding and
CRLF line ends follow the standard.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta, timezone

from companion.errors import BadInputError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RFC_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = {**{d: i for i, d in enumerate(DAYS)},
              **{name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                                   "saturday", "sunday"))}}
PRODID = "-//companion//practice reminder//EN"


def parse_days(text: str) -> list[int]:
    """``mon,wed,fri`` (or full names, any case) → weekday numbers 0-6, in week order; else BadInputError."""
    days = []
    for part in (p.strip().lower() for p in text.split(",")):
        if part not in _DAY_NAMES:
            raise BadInputError(f"--days {text!r}: {part!r} is not a day",
                                hint="give days as mon,tue,wed,thu,fri,sat,sun separated by commas")
        days.append(_DAY_NAMES[part])
    return sorted(set(days))


def parse_time(text: str) -> time:
    """``19:30`` or ``7:05`` (24-hour) → a time; else BadInputError."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise BadInputError(f"--at {text!r} is not a time of day", hint="give 24-hour HH:MM, e.g. --at 19:30")
    return time(int(match.group(1)), int(match.group(2)))


def first_occurrence(days: list[int], at: time, today: date) -> datetime:
    """The first chosen weekday on or after ``today`` (a calendar starts the series there)."""
    ahead = min((d - today.weekday()) % 7 for d in days)
    return datetime.combine(today + timedelta(days=ahead), at)


def reminder_calendar(days: list[int], at: time, *, routine: str | None = None, minutes: int = 20,
                      today: date | None = None, now: datetime | None = None) -> bytes:
    """The .ics bytes: one weekly event on ``days`` at ``at`` with an alarm and the command to run."""
    from icalendar import Alarm, Calendar, Event, vRecur

    command = "companion play" + (f" {routine}" if routine else "")
    start = first_occurrence(days, at, today or date.today())
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    event = Event()
    event.add("uid", f"{uuid.uuid4()}@companion.invalid")
    event.add("dtstamp", now or datetime.now(timezone.utc))
    event.add("dtstart", start)                       # floating local time: no TZID
    event.add("duration", timedelta(minutes=minutes))
    event.add("summary", "Head and neck self-massage")
    event.add("description", f"Time for your self-massage practice. On your computer, run:\n  {command}\n"
                             "Take your time standing up afterwards.")
    event.add("rrule", vRecur(freq="weekly", byday=[_RFC_DAYS[d] for d in days]))
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Self-massage practice: {command}")
    alarm.add("trigger", timedelta(0))
    event.add_component(alarm)
    calendar.add_component(event)
    return calendar.to_ical()
