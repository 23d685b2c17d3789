"""``companion report``: one self-contained HTML file of the last weeks' practice, for the therapist."""

from __future__ import annotations

from pathlib import Path

import click

from companion.cli._common import force_option
from companion.cli.journal_hooks import guard_export


@click.command("report")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, metavar="FILE.html",
              help="The HTML file to write.")
@click.option("--weeks", type=click.IntRange(1, 520), default=4, show_default=True,
              help="How many weeks back (whole weeks, from Monday).")
@click.option("--name", metavar="TEXT", help="Your name for the header.")
@force_option
def report_command(output: Path, weeks: int, name: str | None, force: bool) -> None:
    """Write a report of your practice to bring or send to your therapist.

    One HTML file that opens offline in any browser and prints to one or two pages: sessions per week,
    minutes, routines, tension and pain before → after (table and chart), your notes. Nothing is sent
    anywhere. With no sessions in the period it says so, writes nothing and exits 1.

    \b
    Examples:
      companion report -o practice.html
      companion report -o practice.html --weeks 8 --name "Sam Lee"
    """
    from companion.journal.files import write_new_file
    from companion.journal.report import NoSessionsError, build_report
    from companion.journal.store import Journal
    from companion.terminal.text import visible

    guard_export(output, force)      # before any work: an existing file only with --force or a "yes"
    try:
        journal = Journal.open(create=False)
    except FileNotFoundError:
        raise NoSessionsError("the journal has no sessions yet, so there is nothing to report; nothing was "
                              "written", hint="play a session first") from None
    with journal:
        rows = journal.sessions()
    page = build_report(rows, weeks=weeks, name=name)
    write_new_file(output, page, force=True)
    click.echo(f"Wrote {visible(str(output))}: the last {weeks} week(s) of practice. Open it in a browser to "
               "read or print it.")


COMMANDS = [report_command]
