"""The report for the therapist: one self-contained HTML file of the last weeks' practice.

Self-contained means it opens the same anywhere, offline, and sends nothing: no scripts, no web fonts, no
images or style sheets from elsewhere. The chart (tension and pain before → after, per session) is drawn by
pygal as SVG and put inline; pygal's own config script and its comments (which carry its web address) are
taken out, the drawing itself does not need them. A print style sheet fits the page to A4/Letter: the
summary, chart and notes on the first page, the session table after it.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import datetime, timedelta

from companion import __version__
from companion.errors import CompanionError
from companion.journal.schema import SessionRow
from companion.durations import clock
from companion.journal.views import change, ending_text, minutes_played, week_start
from companion.terminal.text import visible

CHART_WIDTH, CHART_HEIGHT = 760, 300


def _text(text: str) -> str:
    """Text from the journal (routine names, notes, the --name) for HTML: control characters shown, escaped."""
    return html.escape(visible(text))


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
       max-width: 820px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin: 0 0 .2em; } h2 { font-size: 1.15em; margin: 1.4em 0 .4em; }
.period { color: #555; margin: 0 0 1em; }
.figures { display: flex; flex-wrap: wrap; gap: .6em 1.6em; margin: .6em 0; padding: 0; list-style: none; }
.figures b { font-size: 1.3em; display: block; }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #ddd; }
td.num, th.num { text-align: right; }
.chart svg { width: 100%; height: auto; }
.notes li { margin: .2em 0; }
footer { color: #666; font-size: .85em; margin-top: 2em; }
@media print {
  @page { size: auto; margin: 14mm; }
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  .chart { break-inside: avoid; } .summary { break-inside: avoid; }
  .sessions { break-before: page; } tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


class NoSessionsError(CompanionError):
    """Nothing to report (exit 1, nothing written)."""


def window_rows(rows: list[SessionRow], weeks: int, now: datetime) -> tuple[list[SessionRow], datetime]:
    """The sessions of the last ``weeks`` weeks (whole weeks from Monday), and the window's first day."""
    start = week_start(now) - timedelta(weeks=weeks - 1)
    cut = start.timestamp()
    return [r for r in rows if r.started_unix >= cut], start


def build_report(rows: list[SessionRow], *, weeks: int, name: str | None = None,
                 now: datetime | None = None) -> str:
    """The report's HTML for the sessions in ``rows`` that fall in the last ``weeks`` weeks."""
    now = now or datetime.now().astimezone()
    chosen, start = window_rows(rows, weeks, now)
    if not chosen:
        raise NoSessionsError(f"the journal has no sessions in the last {weeks} week(s), so there is nothing to "
                              "report; nothing was written", hint="play a session, or give more --weeks")
    e = _text
    minutes = sum(minutes_played(r) for r in chosen)
    days = len({r.started.date() for r in chosen if (r.played_s or 0) > 0})
    per_week = _per_week(chosen, start, weeks)
    routines = Counter(r.routine for r in chosen)
    who = f" for {e(name)}" if name else ""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Self-massage practice report{who}</title>", f"<style>{CSS}</style></head><body>",
        f"<header><h1>Self-massage practice{who}</h1>",
        f'<p class="period">{start:%d %b %Y} to {now:%d %b %Y} ({weeks} week{"s" if weeks != 1 else ""})</p>'
        "</header>",
        '<section class="summary"><ul class="figures">',
        f'<li><b id="sessions">{len(chosen)}</b>sessions</li>',
        f'<li><b id="minutes">{minutes:.0f}</b>minutes practised</li>',
        f'<li><b id="days">{days}</b>days with practice</li>',
        f'<li><b id="per-week">{len(chosen) / weeks:.1f}</b>sessions per week</li>',
        "</ul>",
        "<p>Routines: " + ", ".join(f"{e(n)} ({c})" for n, c in routines.most_common()) + "</p>",
        _week_table(per_week), "</section>",
        '<section class="chart"><h2>Tension and pain, before → after (0–10)</h2>', _chart(chosen), "</section>",
        _notes(chosen),
        '<section class="sessions"><h2>Sessions</h2>', _session_table(chosen), "</section>",
        f"<footer>Written by companion {html.escape(__version__)} on {now:%d %b %Y} from the journal kept on this computer. "
        "Self-massage at home is a relaxation aid in addition to the care your provider recommends. Contact "
        "your healthcare provider for severe pain, or new or worsening symptoms.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _per_week(rows: list[SessionRow], start: datetime, weeks: int) -> list[tuple[datetime, int, float]]:
    counts, minutes = [0] * weeks, [0.0] * weeks
    first = start.date()
    for row in rows:
        index = (row.started.date() - first).days // 7
        if 0 <= index < weeks:
            counts[index] += 1
            minutes[index] += minutes_played(row)
    return [(start + timedelta(weeks=i), counts[i], minutes[i]) for i in range(weeks)]


def _week_table(per_week: list[tuple[datetime, int, float]]) -> str:
    rows = "".join(f"<tr><td>{begin:%d %b %Y}</td><td class=num>{count}</td><td class=num>{minutes:.0f}</td></tr>"
                   for begin, count, minutes in per_week[-12:])
    more = f"<p>({len(per_week) - 12} earlier weeks in the session list.)</p>" if len(per_week) > 12 else ""
    return ('<table class="weeks"><thead><tr><th>Week of</th><th class=num>Sessions</th>'
            f"<th class=num>Minutes</th></tr></thead><tbody>{rows}</tbody></table>{more}")


SESSION_ROWS = 60     # the session table's length: two printed pages at most; the CSV export has them all


def _session_table(rows: list[SessionRow]) -> str:
    e = _text
    shown = rows[-SESSION_ROWS:]
    body = "".join(
        f"<tr><td>{r.started:%a %d %b %Y %H:%M}</td><td>{e(r.routine)}</td>"
        f"<td class=num>{clock(round(r.played_s)) if r.played_s is not None else '?'}/{clock(round(r.planned_s))}</td>"
        f"<td>{e(ending_text(r))}</td><td>{e(change(r.tension_before, r.tension_after))}</td>"
        f"<td>{e(change(r.pain_before, r.pain_after))}</td></tr>" for r in reversed(shown))
    more = (f"<p>The last {len(shown)} of {len(rows)} sessions; <code>companion journal --csv FILE</code> "
            "exports them all.</p>" if len(shown) < len(rows) else "")
    return ("<table><thead><tr><th>Date</th><th>Routine</th><th class=num>Played/planned</th><th>Ended</th>"
            f"<th>Tension</th><th>Pain</th></tr></thead><tbody>{body}</tbody></table>{more}")


def _notes(rows: list[SessionRow]) -> str:
    items = "".join(f"<li><b>{r.started:%d %b}</b> ({_text(r.routine)}): {_text(r.note)}</li>"
                    for r in rows if r.note)
    return f'<section class="notes"><h2>Notes</h2><ul>{items}</ul></section>' if items else ""


def _chart(rows: list[SessionRow]) -> str:
    """Inline SVG of tension and pain before and after: one point per session, or per week or per month
    (the mean of its check-ins) when there are more than ``CHART_POINTS`` sessions with a check-in."""
    checked = [r for r in rows if any(v is not None for v in (r.tension_before, r.tension_after, r.pain_before,
                                                               r.pain_after))]
    if not checked:
        return "<p>No check-ins in this period (<code>companion play --check-in</code> asks before and after).</p>"
    import pygal
    from pygal.style import Style

    labels, series, per = _chart_points(checked)
    style = Style(background="white", plot_background="white", font_family="sans-serif",
                  colors=("#1f5f99", "#7fb2e5", "#b3472d", "#eea58f"), label_font_size=11, legend_font_size=12,
                  major_label_font_size=11)
    chart = pygal.Line(js=[], disable_xml_declaration=True, width=CHART_WIDTH, height=CHART_HEIGHT, style=style,
                       range=(0, 10), include_x_axis=True, show_minor_x_labels=False, x_label_rotation=0,
                       x_labels_major_count=min(8, len(labels)), legend_at_bottom=True, legend_at_bottom_columns=4,
                       dots_size=2.5, allow_interruptions=True, truncate_label=-1, show_y_guides=True,
                       y_labels=list(range(0, 11, 2)), print_values=False)
    chart.x_labels = labels
    for title, values in series.items():
        if any(v is not None for v in values):
            chart.add(title, values)
    svg = _COMMENT.sub("", _SCRIPT.sub("", chart.render(is_unicode=True)))
    note = "" if per == "session" else f'<p class="per">One point per {per}: the mean of its check-ins.</p>'
    return svg + note


CHART_POINTS = 60
_SERIES = (("Tension before", "tension_before"), ("Tension after", "tension_after"),
           ("Pain before", "pain_before"), ("Pain after", "pain_after"))


def _chart_points(rows: list[SessionRow]) -> tuple[list[str], dict[str, list], str]:
    """(x labels, values per series, "session" | "week" | "month"): at most about CHART_POINTS points."""
    if len(rows) <= CHART_POINTS:
        return ([f"{r.started:%d %b}" for r in rows],
                {title: [getattr(r, key) for r in rows] for title, key in _SERIES}, "session")
    span_days = (rows[-1].started.date() - rows[0].started.date()).days
    per = "week" if span_days / 7 <= CHART_POINTS else "month"
    groups: dict[tuple, list[SessionRow]] = {}
    for row in rows:
        day = row.started.date()
        key = (day - timedelta(days=day.weekday()),) if per == "week" else (day.year, day.month)
        groups.setdefault(key, []).append(row)
    labels = [f"{key[0]:%d %b %y}" if per == "week" else f"{datetime(key[0], key[1], 1):%b %Y}" for key in groups]

    def mean(values: list) -> float | None:
        given = [v for v in values if v is not None]
        return round(sum(given) / len(given), 1) if given else None

    return labels, {title: [mean([getattr(r, key) for r in group]) for group in groups.values()]
                    for title, key in _SERIES}, per
