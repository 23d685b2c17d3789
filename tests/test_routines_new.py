"""``routines new`` and the README's routine example: files that check, need no synthesis, and play as written.

"Plays as written" is judged by rendering the routine and reading the file's length with libsndfile.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf

from tests.clikit import private_dirs, run  # noqa: F401 - private_dirs is an autouse fixture
from companion.narration import voicing
from companion.plan.routine import load_routine

ROOT = Path(__file__).resolve().parent.parent


def rendered_seconds(routine: Path, tmp_path: Path) -> float:
    out = tmp_path / f"{routine.stem}.wav"
    result = run("render", str(routine), "-o", str(out))
    assert result.exit_code == 0, result.output
    info = sf.info(str(out))
    return info.frames / info.samplerate


def readme_routine_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^## Routine files\n.*?^```toml\n(.*?)^```", text, re.S | re.M)
    assert found, "README.md has no ```toml block under '## Routine files'"
    return found.group(1)


def test_the_readme_routine_example_checks_and_plays_as_written_when_copied(tmp_path):
    path = tmp_path / "evening-neck.toml"
    path.write_text(readme_routine_example(), encoding="utf-8")
    checked = run("routines", "check", str(path))
    assert checked.exit_code == 0, checked.output
    routine = load_routine(path)
    assert voicing.lines_to_synthesize(routine) == 0, "every line of the example has a shipped voice"
    assert rendered_seconds(path, tmp_path) == pytest.approx(routine.options.minutes * 60, abs=0.5)


def test_new_writes_a_commented_template_that_checks_and_plays_for_its_minutes(tmp_path):
    path = tmp_path / "mine.toml"
    result = run("routines", "new", str(path))
    assert result.exit_code == 0, result.output
    assert f"companion record {path}" in result.output
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# A routine for companion") and text.count("#") >= 8, "the template explains itself"
    assert run("routines", "check", str(path)).exit_code == 0
    routine = load_routine(path)
    assert voicing.lines_to_synthesize(routine) == 0
    assert rendered_seconds(path, tmp_path) == pytest.approx(routine.options.minutes * 60, abs=0.5)


def test_new_from_a_builtin_copies_its_steps_and_settings(tmp_path):
    path = tmp_path / "evening.toml"
    assert run("routines", "new", str(path), "--from", "quick-reset").exit_code == 0
    copy, original = load_routine(path), load_routine("quick-reset")
    assert copy.steps == original.steps and copy.options == original.options
    assert path.read_text(encoding="utf-8").startswith("# A copy of companion's built-in routine 'quick-reset'")


def test_new_never_overwrites_and_rejects_an_unknown_builtin(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("keep me", encoding="utf-8")
    result = run("routines", "new", str(path))
    assert result.exit_code == 2 and "already exists" in result.output
    assert path.read_text(encoding="utf-8") == "keep me"
    other = tmp_path / "other.toml"
    result = run("routines", "new", str(other), "--from", "no-such-routine")
    assert result.exit_code == 2 and "quick-reset" in result.output, result.output
    assert not other.exists()
