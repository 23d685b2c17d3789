"""``companion journal``: the practice journal read back, a note on the last session, and forgetting it all."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

from companion.cli._common import force_option
from companion.errors import BadInputError
from companion.terminal.text import visible

RECENT = 20


def parse_since(text: str, now: datetime | None = None) -> float:
    """``2026-11-01``, ``30d`` or ``4w`` → a unix time; anything else is a BadInputError (exit 2)."""
    now = now or datetime.now().astimezone()
    text = text.strip()
    match = re.fullmatch(r"(\d{1,5})\s*([dw])", text.lower())
    if match:
        days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
        return (now - timedelta(days=days)).timestamp()
    try:
        return datetime.strptime(text, "%Y-%m-%d").astimezone().timestamp()
    except ValueError:
        raise BadInputError(f"--since {text!r} is not a date", hint="give YYYY-MM-DD, or days/weeks back: 30d, 4w") \
            from None


def _open_existing():
    from companion.journal.store import Journal

    try:
        return Journal.open(create=False)
    except FileNotFoundError:
        return None


@click.group("journal", invoke_without_command=True)
@click.option("--since", metavar="DATE", help="Only sessions from this date on: YYYY-MM-DD, or 30d / 4w back.")
@click.option("--routine", metavar="NAME", help="Only this routine (its name or built-in name).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the sessions as CSV to FILE ('-' for the screen) instead of the table.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the sessions as JSON to FILE ('-' for the screen) instead of the table.")
@force_option
@click.pass_context
def journal_command(ctx: click.Context, since: str | None, routine: str | None, csv_path: Path | None,
                    json_path: Path | None, force: bool) -> None:
    """Your practice journal: recent sessions, this week's minutes and days, the tension trend.

    Every `companion play` and `companion ambient` is recorded on this computer only (turn it off with
    --no-journal or `journal = false` in the settings). With --check-in, tension and pain before → after.

    \b
    Examples:
      companion journal
      companion journal --since 30d --routine quick-reset
      companion journal --csv practice.csv
      companion journal note "Neck easier after the jaw release"
      companion journal forget
    """
    if ctx.invoked_subcommand is not None:
        return
    from companion.journal import views

    since_unix = parse_since(since) if since else None
    journal = _open_existing()
    rows = []
    if journal is not None:
        with journal:
            rows = journal.sessions(since_unix=since_unix, routine=routine)
    if csv_path or json_path:
        if csv_path and json_path:
            raise BadInputError("--csv and --json each write the sessions; give one of them")
        text = views.to_csv(rows) if csv_path else views.to_json(rows)
        target = csv_path or json_path
        if str(target) == "-":
            click.echo(text, nl=False)
            return
        from companion.cli.journal_hooks import guard_export
        from companion.journal.files import write_new_file

        guard_export(target, force)
        write_new_file(target, text, force=True)
        click.echo(f"Wrote {visible(str(target))}: {len(rows)} session(s).")
        return
    if not rows:
        which = f" of {visible(routine)}" if routine else ""
        click.echo(f"No sessions{which} in the journal yet." if since is None
                   else f"No sessions{which} since {since}.")
        return
    shown = rows if since else rows[-RECENT:]
    for line in views.table(shown):
        click.echo(line)
    if len(shown) < len(rows):
        click.echo(f"({len(rows) - len(shown)} earlier session(s) not shown; --since shows more.)")
    minutes, days = views.week_summary(rows)
    amount = "under 1 min" if 0 < minutes < 0.5 else f"{minutes:.0f} min"
    click.echo(f"This week: {amount} on {days} day(s).")
    ascii_only = not _can_print("▁█")
    for line in views.tension_trend(rows, ascii_only=ascii_only):
        click.echo(line)
    for line in views.notes(shown):
        click.echo(f"Note {line}")


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


@journal_command.command("note")
@click.argument("text")
def note_command(text: str) -> None:
    """Add a note to the last session (shown in the journal and the report).

    \b
    Example:
      companion journal note "Headache gone by the evening"
    """
    from companion.journal import views
    from companion.journal.store import Journal

    text = text.strip()
    if not text:
        raise BadInputError("the note is empty", hint='companion journal note "what you noticed"')
    with Journal.open() as journal:
        row = journal.add_note(text)
    click.echo(f"Noted on {visible(row.routine)}, {row.started:%a %d %b %H:%M}.")


@journal_command.command("forget")
@click.option("--yes", is_flag=True, help="Do not ask (for scripts).")
def forget_command(yes: bool) -> None:
    """Delete the whole journal (every session, check-in and note), after asking.

    \b
    Examples:
      companion journal forget
      companion journal forget --yes
    """
    from companion.journal.store import forget, journal_path

    path = journal_path()
    if not path.exists() and not list(path.parent.glob(f"{path.stem}.damaged-*")):
        click.echo(f"There is no journal to delete ({visible(path)}).")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise BadInputError("journal forget deletes every session and asks first; no terminal to ask on",
                                hint="add --yes to delete without asking")
        click.confirm(f"Delete the whole journal at {visible(path)}?", abort=True)
    held, removed = forget(path)
    click.echo(f"Deleted the journal: {held} session(s), {len(removed)} file(s): "
               + ", ".join(p.name for p in removed) + ".")


COMMANDS = [journal_command]
