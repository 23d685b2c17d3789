"""``companion remind``: a calendar file with a weekly practice reminder, for any calendar app."""

from __future__ import annotations

from pathlib import Path

import click

from companion.cli._common import force_option
from companion.cli.journal_hooks import guard_export


@click.command("remind")
@click.option("--days", required=True, metavar="DAYS", help="Days of the week: mon,tue,wed,thu,fri,sat,sun.")
@click.option("--at", "at", required=True, metavar="HH:MM", help="Time of day, 24-hour (your local time).")
@click.option("--routine", metavar="NAME", help="The routine the reminder's command plays.")
@click.option("--minutes", type=click.IntRange(5, 180), default=20, show_default=True,
              help="How long the calendar event lasts.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, metavar="FILE.ics",
              help="The calendar file to write.")
@force_option
def remind_command(days: str, at: str, routine: str | None, minutes: int, output: Path, force: bool) -> None:
    """Write a weekly practice reminder as a calendar file (.ics) to import into any calendar.

    A recurring event on the chosen days with an alarm at its start and the command to run in its
    description. No account, nothing sent: import the file on your phone or computer.

    \b
    Examples:
      companion remind --days mon,wed,fri --at 19:30 -o practice.ics
      companion remind --days sat --at 9:00 --routine quick-reset -o weekend.ics
    """
    from companion.journal.files import write_new_file
    from companion.journal.remind import DAYS, parse_days, parse_time, reminder_calendar
    from companion.terminal.text import visible

    chosen = parse_days(days)
    guard_export(output, force)
    at_time = parse_time(at)
    if routine:
        from companion.plan.routine import load_routine

        load_routine(routine)       # a routine that does not exist fails here, with its own message
    text = reminder_calendar(chosen, at_time, routine=routine, minutes=minutes).decode("utf-8")
    write_new_file(output, text, force=True, private=False)
    click.echo(f"Wrote {visible(str(output))}: every {', '.join(DAYS[d] for d in chosen)} at {at_time:%H:%M}. "
               "Import it into your calendar.")


COMMANDS = [remind_command]
