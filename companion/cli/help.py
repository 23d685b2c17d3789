"""``companion help TOPIC``: the keys, the routine format, the settings file and more, offline.

The topics are copies of the README's help regions (``topics/*.md``, written by ``scripts/sync_help.py``;
tests/test_help.py fails when they drift apart), so the README and the program say the same thing.
"""

from __future__ import annotations

from importlib import resources

import click

from companion.errors import BadInputError
from companion.plan.suggest import did_you_mean

TOPICS = resources.files("companion.cli") / "topics"


def topic_names() -> list[str]:
    return sorted(p.name[:-3] for p in TOPICS.iterdir() if p.name.endswith(".md"))


def topic_text(topic: str) -> str:
    """The topic as plain text for a terminal: code fences dropped, the rest as written."""
    raw = (TOPICS / f"{topic}.md").read_text(encoding="utf-8")
    return "\n".join(line for line in raw.splitlines() if not line.startswith("```")).strip() + "\n"


@click.command("help")
@click.argument("topic", required=False)
def help_command(topic: str | None) -> None:
    """Read about a topic, offline (the same text as the README's sections). With no TOPIC, list them.

    \b
    Examples:
      companion help               # the topics
      companion help keys          # the keys while playing
      companion help routines      # how to write a routine file
      companion help settings      # the settings file
    """
    names = topic_names()
    if topic is None:
        click.echo("Topics: " + ", ".join(names) + "  (companion help TOPIC; every command also has --help)")
        return
    if topic not in names:
        raise BadInputError(f"no help topic {topic!r}; {did_you_mean(topic, names, listing='the topics')}")
    click.echo(topic_text(topic), nl=False)


COMMANDS = [help_command]
