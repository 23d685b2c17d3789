"""`companion help TOPIC` says what the README says, offline; shell completion works as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from companion.cli import main
from companion.cli.help import TOPICS, topic_names, topic_text
from companion.terminal.keys import KEYMAP

ROOT = Path(__file__).resolve().parent.parent
REGION = re.compile(r"<!-- help:(?P<topic>[a-z-]+) -->\n(?P<text>.*?)<!-- /help:(?P=topic) -->", re.S)


def readme_regions() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return {m.group("topic"): m.group("text").strip() + "\n" for m in REGION.finditer(readme)}


def test_every_topic_is_the_readmes_text_word_for_word():
    regions = readme_regions()
    assert set(regions) >= {"keys", "routines", "settings", "voices", "completion", "troubleshooting"}
    assert set(topic_names()) == set(regions), "run scripts/sync_help.py"
    for topic, text in regions.items():
        assert (TOPICS / f"{topic}.md").read_text(encoding="utf-8") == text, \
            f"companion help {topic} differs from the README: run scripts/sync_help.py"


def test_help_lists_the_topics_and_prints_one():
    runner = CliRunner()
    listed = runner.invoke(main, ["help"])
    assert listed.exit_code == 0 and all(t in listed.output for t in topic_names()), listed.output
    keys = runner.invoke(main, ["help", "keys"])
    assert keys.exit_code == 0 and keys.output == topic_text("keys")
    assert "```" not in keys.output


def test_an_unknown_topic_is_one_line_with_a_suggestion():
    result = CliRunner().invoke(main, ["help", "key"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "did you mean 'keys'?" in result.output


def test_the_keys_topic_names_every_key_the_player_answers():
    rows = [line for line in topic_text("keys").splitlines() if line.startswith("| ")]
    named = {" ": "space", "right": "→", "left": "←"}
    missing = [key for key in KEYMAP
               if not any(named.get(key, f"`{key}`") in row.split("|")[1] for row in rows)]
    assert not missing, f"keys the player answers but `companion help keys` does not show: {missing}"


def test_bash_completion_script_completes_the_commands():
    companion = os.path.join(os.path.dirname(sys.executable), "companion")
    source = subprocess.run([companion], env={**os.environ, "_COMPANION_COMPLETE": "bash_source"},
                            capture_output=True, text=True, timeout=60)
    assert source.returncode == 0 and "_companion_completion" in source.stdout, source.stderr
    words = subprocess.run([companion], env={**os.environ, "_COMPANION_COMPLETE": "bash_complete",
                                             "COMP_WORDS": "companion ro", "COMP_CWORD": "1"},
                           capture_output=True, text=True, timeout=60)
    assert "plain,routines" in words.stdout.splitlines(), words.stdout
