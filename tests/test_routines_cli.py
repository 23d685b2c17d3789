"""``companion routines``: the list, the printed sheet, and ``check`` with its exit codes."""

from __future__ import annotations

import re
import shutil

import pytest
from click.testing import CliRunner

from companion.narration import synthesis
from companion.narration import voicing
from companion.cli import main
from companion.plan.routine import builtin_names, load_routine

GOOD = """
name = "Evening"
[session]
minutes = 4
[[steps]]
id = "one"
title = "Breathe"
do = "Hands on your belly"
lines = ["Welcome. This is a relaxation aid.", "Breathe out, very slowly."]
hold = "1:30"
breath = { in_s = 4, out_s = 6 }
[[steps]]
id = "two"
title = "Rest"
lines = ["Take your time coming back."]
hold = 60
"""


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPANION_CACHE_DIR", raising=False)   # this test reads the XDG default
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_list_shows_every_builtin_with_its_length_and_steps():
    result = run("routines")
    assert result.exit_code == 0, result.output
    for name in builtin_names():
        steps = len(load_routine(name).steps)
        minutes = int(load_routine(name).options.minutes)
        assert re.search(rf"^  {re.escape(name)}( \(default\))?\s+{minutes}:00\s+{steps} steps", result.output,
                         re.MULTILINE), f"{name} missing or wrong in:\n{result.output}"
    assert "head-and-neck (default)" in result.output


def test_show_prints_each_step_with_start_time_and_hold():
    result = run("routines", "show", "quick-reset")
    assert result.exit_code == 0, result.output
    routine = load_routine("quick-reset")
    starts = []
    for number, step in enumerate(routine.steps, start=1):
        match = re.search(rf"^\s+(\d+):(\d\d)  {number}\. {re.escape(step.title)}", result.output, re.MULTILINE)
        assert match, f"step {number} missing in:\n{result.output}"
        starts.append(int(match[1]) * 60 + int(match[2]))
        assert step.do in result.output
    assert starts == sorted(starts) and 4 <= starts[0] <= 10, starts
    assert re.search(r"^\s+5:00  end$", result.output, re.MULTILINE)
    assert "Use light pressure" in result.output


def test_show_with_lines_and_minutes(tmp_path):
    result = run("routines", "show", "quick-reset", "--lines", "--minutes", "7")
    assert result.exit_code == 0, result.output
    assert '"Take your time coming back."' in result.output
    assert re.search(r"^\s+7:00  end$", result.output, re.MULTILINE)


def test_check_accepts_a_good_file(tmp_path):
    path = tmp_path / "evening.toml"
    path.write_text(GOOD.replace('"Breathe out, very slowly."', '"Hands on your belly. Slow breaths. Let each out-breath be long."'))
    result = run("routines", "check", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: Evening: 4:00, 2 steps, 3 lines")


def test_check_and_show_count_one_step_and_one_line_in_the_singular(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(GOOD.split("[[steps]]\nid = \"two\"")[0].replace(', "Breathe out, very slowly."', ""))
    checked = run("routines", "check", str(path))
    assert checked.exit_code == 0 and checked.output.startswith("OK: Evening: 4:00, 1 step, 1 line"), checked.output
    assert run("routines", "show", str(path)).output.startswith("Evening: 4:00, 1 step\n")


def test_check_rejects_a_bad_file_with_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('hold = "1:30"', 'hold = "soon"'))
    result = CliRunner().invoke(main, ["routines", "check", str(path)])
    assert result.exit_code == 2
    assert "Error:" in result.output and "hold" in result.output


def test_check_names_lines_without_a_voice(tmp_path, monkeypatch):
    monkeypatch.setattr(synthesis, "engine_installed", lambda name=synthesis.DEFAULT_ENGINE: False)
    real_which = shutil.which
    monkeypatch.setattr(voicing.shutil, "which", lambda name, *a, **k: None if name == "espeak-ng" else real_which(name))
    path = tmp_path / "evening.toml"
    path.write_text(GOOD)
    result = CliRunner().invoke(main, ["routines", "check", str(path)])
    assert result.exit_code == 2
    assert "step 1 ('Breathe') line 2: \"Breathe out, very slowly.\"" in result.output
    assert "1 line would have no voice" in result.output and "reinstall companion" in result.output


@pytest.mark.parametrize("args", [["routines"], ["routines", "show"], ["routines", "check"]])
def test_every_routines_command_has_help_with_an_example(args):
    result = run(*args, "--help")
    assert result.exit_code == 0 and "Example" in result.output and "companion routines" in result.output
