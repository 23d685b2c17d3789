"""`companion journal`, `journal note`, `journal forget`, `report` and `remind` through the real CLI.

The journal is seeded through the store with known sessions; what the commands print or write is read
back by independent means: the csv and json modules, icalendar and vobject (two separate iCalendar
parsers), and headless Chromium for the report (screenshot pixels, and the DOM it built).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from companion.journal.schema import FINISHED, INTERRUPTED, QUIT, SessionEnd, SessionStart
from companion.journal.store import Journal

COMPANION = os.path.join(os.path.dirname(sys.executable), "companion")


def run(*args: str, data_dir, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COMPANION_DATA_DIR": str(data_dir)}
    return subprocess.run([COMPANION, *args], capture_output=True, text=True, timeout=60, env=env, input=stdin,
                          cwd=cwd)


def at(days_ago: float, hour: int = 19) -> float:
    day = datetime.now().astimezone().replace(hour=hour, minute=0, second=0, microsecond=0)
    return (day - timedelta(days=days_ago)).timestamp()


# (days ago, routine, ref, planned s, played s, ending, step reached, tension before/after, pain before/after)
SEED = [
    (40, "Head and neck", "head-and-neck", 900, 900, FINISHED, 6, 7, 4, None, None),
    (9, "Quick reset", "quick-reset", 300, 300, FINISHED, 3, 6, 3, 5, 2),
    (2, "Quick reset", "quick-reset", 300, 130, QUIT, 1, 5, 4, None, None),
    (0, "Neck \x1b[31mred", "/home/x/neck.toml", 600, 61, INTERRUPTED, 0, None, None, None, None),
]


@pytest.fixture
def seeded(tmp_path):
    folder = tmp_path / "data"
    with Journal.open(folder / "journal.sqlite3") as journal:
        for days, name, ref, planned, played, ending, step, tb, ta, pb, pa in SEED:
            row = journal.start(SessionStart("guided", name, "h", ref, planned, step_count=7, seed=0,
                                             tension_before=tb, pain_before=pb, started_unix=at(days)))
            journal.finish(row, SessionEnd(ending, played, step, tension_after=ta, pain_after=pa))
    return folder


def test_journal_prints_the_table_the_week_and_the_trend(seeded):
    result = run("journal", data_dir=seeded)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Date", "Routine", "Played/planned", "How", "it", "ended", "Tension", "Pain"]
    assert "Quick reset" in lines[2] and "5:00/5:00" in lines[2] and "finished" in lines[2] and "6→3" in lines[2] \
        and "5→2" in lines[2]
    assert "2:10/5:00" in lines[3] and "quit at step 2/7" in lines[3] and "5→4" in lines[3]
    assert "Ctrl-C at step 1/7" in lines[4]
    assert "\\x1b[31m" in lines[4] and "\x1b" not in result.stdout, "a control character from a name is shown"
    week = [line for line in lines if line.startswith("This week:")]
    today = datetime.now().astimezone()
    in_week = [s for s in SEED if datetime.fromtimestamp(at(s[0])).astimezone() >=
               (today - timedelta(days=today.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)]
    expected_min = sum(s[4] for s in in_week) / 60
    assert week == [f"This week: {expected_min:.0f} min on {len({s[0] for s in in_week})} day(s)."]
    assert "Tension, last 3 check-in(s), 0-10:" in result.stdout
    mean = ((4 - 7) + (3 - 6) + (4 - 5)) / 3
    assert f"change {mean:+.1f} on average" in result.stdout


def test_journal_filters_and_exports_csv_and_json_that_parse(seeded, tmp_path):
    result = run("journal", "--routine", "quick-reset", "--since", "30d", "--csv", "-", data_dir=seeded)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["routine"], r["ended"], r["played_min"], r["step_reached"]) for r in rows] == \
        [("Quick reset", "finished", "5.0", "4"), ("Quick reset", "quit", "2.17", "2")]
    target = tmp_path / "out.json"
    result = run("journal", "--json", str(target), data_dir=seeded)
    assert result.returncode == 0, result.stderr
    data = json.loads(target.read_text())
    assert len(data["sessions"]) == 4 and data["sessions"][0]["tension_before"] == 7
    assert oct(os.stat(target).st_mode & 0o777) == "0o600", "health data exported for the user alone"
    again = run("journal", "--json", str(target), data_dir=seeded)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert json.loads(target.read_text()) == data
    bad = run("journal", "--since", "last tuesday", data_dir=seeded)
    assert bad.returncode == 2 and bad.stderr.startswith("Error: --since 'last tuesday' is not a date")


def test_note_goes_on_the_last_session_and_forget_asks_then_deletes(seeded):
    assert run("journal", "note", "Neck easier by the evening", data_dir=seeded).returncode == 0
    import sqlite3

    noted = sqlite3.connect(seeded / "journal.sqlite3").execute(
        "SELECT started_unix, note FROM sessions WHERE note IS NOT NULL").fetchall()
    assert noted == [(at(0), "Neck easier by the evening")], "on the latest session, and only there"
    refused = run("journal", "forget", data_dir=seeded)            # no terminal to ask on
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert (seeded / "journal.sqlite3").exists()
    done = run("journal", "forget", "--yes", data_dir=seeded)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Deleted the journal: 4 session(s), ") and "journal.sqlite3" in done.stdout
    assert list(seeded.iterdir()) == []


def test_report_with_no_sessions_says_so_exits_1_and_writes_nothing(tmp_path):
    target = tmp_path / "report.html"
    result = run("report", "-o", str(target), data_dir=tmp_path / "empty")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: the journal has no sessions yet") and "nothing was written" in result.stderr
    assert not target.exists()


def test_remind_writes_a_weekly_event_with_an_alarm_that_two_parsers_read(tmp_path):
    icalendar = pytest.importorskip("icalendar")
    vobject = pytest.importorskip("vobject")
    target = tmp_path / "practice.ics"
    result = run("remind", "--days", "mon,wed,fri", "--at", "19:30", "--routine", "quick-reset", "-o", str(target),
                 data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    raw = target.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "RFC 5545 lines end in CRLF"

    [event] = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    rule = event["RRULE"]
    assert rule["FREQ"] == ["WEEKLY"] and rule["BYDAY"] == ["MO", "WE", "FR"]
    start = event.decoded("DTSTART")
    assert (start.hour, start.minute, start.tzinfo) == (19, 30, None), "floating local time"
    assert start.weekday() in (0, 2, 4) and date.today() <= start.date() < date.today() + timedelta(days=7)
    assert "companion play quick-reset" in str(event["DESCRIPTION"])
    [alarm] = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY" and alarm.decoded("TRIGGER") == timedelta(0)

    parsed = vobject.readOne(raw.decode("utf-8"))
    vevent = parsed.vevent
    assert vevent.rrule.value == "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    occurrences = list(itertools.islice(vevent.getrruleset(), 6))
    assert {d.weekday() for d in occurrences} == {0, 2, 4}
    assert all(later - earlier <= timedelta(days=3) for earlier, later in zip(occurrences, occurrences[1:]))
    assert all((d.hour, d.minute) == (19, 30) for d in occurrences)
    assert "companion play quick-reset" in vevent.description.value
    assert vevent.valarm.action.value == "DISPLAY"


@pytest.mark.parametrize("args, says", [
    (("--days", "mon,funday", "--at", "19:30"), "Error: --days 'mon,funday': 'funday' is not a day"),
    (("--days", "mon", "--at", "24:00"), "Error: --at '24:00' is not a time of day"),
    (("--days", "mon", "--at", "7pm"), "Error: --at '7pm' is not a time of day"),
])
def test_remind_bad_days_or_times_are_one_line_and_exit_2(tmp_path, args, says):
    result = run("remind", *args, "-o", str(tmp_path / "x.ics"), data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(says) and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.ics").exists()


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")


def chromium(*args: str, profile) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("needs Debian's chromium (scripts/install-system.sh --test)")
    return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=90)


def test_report_opens_in_a_real_browser_with_its_figures_chart_and_notes(seeded, tmp_path):
    with Journal.open(seeded / "journal.sqlite3") as journal:
        journal.add_note("Jaw <softer> & calmer")
        old = journal.start(SessionStart("guided", "Long ago", "h", "head-and-neck", 900, started_unix=at(120)))
        journal.finish(old, SessionEnd(FINISHED, 900, 6))      # outside --weeks 8: not in the figures
    target = tmp_path / "report.html"
    result = run("report", "-o", str(target), "--weeks", "8", "--name", "Sam Lee", data_dir=seeded)
    assert result.returncode == 0, result.stderr
    page = target.read_text()
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") \
        and "https://" not in page and "@font-face" not in page and "<link" not in page, "self-contained"

    shot = tmp_path / "shot.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=900,1300", target.as_uri(), profile=tmp_path / "p1")
    assert shot.exists(), taken.stderr
    pixels = _gray_pixels(shot, 900, 1300)
    dark = float(np.mean(pixels < 128))
    assert 0.005 < dark < 0.5, f"{dark:.3%} of the screenshot is dark: blank or broken"

    dom = chromium("--dump-dom", target.as_uri(), profile=tmp_path / "p2").stdout
    in_window = SEED                           # 8 weeks back from this Monday: all four, 40 days ago included
    assert "Long ago" not in dom
    assert "Neck \\x1b[31mred" in dom and "\x1b" not in page, "a control character from a name is shown"
    minutes = sum(s[4] for s in in_window) / 60
    assert f'<b id="sessions">{len(in_window)}</b>' in dom
    assert f'<b id="minutes">{minutes:.0f}</b>' in dom
    assert "Self-massage practice for Sam Lee" in dom
    assert "Jaw &lt;softer&gt; &amp; calmer" in dom, "the note, escaped"
    assert "<svg" in dom and "Tension before" in dom and "Pain after" in dom, "the inline chart and its legend"
    assert "quit at step 2/7" in dom and "6→3" in dom


def _gray_pixels(path, width: int, height: int) -> np.ndarray:
    """The screenshot as 8-bit gray pixels, decoded by ffmpeg (a decoder independent of the browser)."""
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                             capture_output=True, timeout=30, check=True).stdout
    return np.frombuffer(decoded, np.uint8).reshape(height, width)


def test_the_chart_plots_weekly_means_when_there_are_too_many_sessions_for_one_point_each():
    import re

    from companion.journal.report import CHART_POINTS, build_report
    from companion.journal.schema import SessionRow

    now = datetime.now().astimezone()
    days = CHART_POINTS + 10
    rows = [SessionRow(id=i, started_unix=at(days - i), kind="guided", routine="Quick reset", routine_hash="h",
                       planned_s=300, played_s=300, ended=FINISHED, step_reached=3, music="", routine_ref="quick-reset",
                       step_count=4, start_step=0, minutes=None, seed=0, tension_before=i % 9, tension_after=1,
                       pain_before=None, pain_after=None, note=None, pid=None) for i in range(days)]
    page = build_report(rows, weeks=20, now=now)
    assert "One point per week: the mean of its check-ins." in page
    weeks: dict = {}
    for row in rows:
        monday = row.started.date() - timedelta(days=row.started.weekday())
        weeks.setdefault(monday, []).append(row.tension_before)
    expected = [f"{round(sum(v) / len(v), 1):g}" for v in weeks.values()]
    values = re.findall(r'<desc class="value">([^<]*)</desc>', page)
    assert values[:len(expected)] == expected, "tension before: one weekly mean per week, in order"
    assert len(values) == 2 * len(expected), "and tension after; no pain series without pain values"
