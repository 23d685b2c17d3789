"""scripts/setup.sh: a second run installs nothing new (the README promises it), an edit to pyproject.toml
installs again. A stand-in virtual environment records what pip would have been asked to do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fake_venv(folder: Path) -> Path:
    (folder / "bin").mkdir(parents=True)
    calls = folder / "calls.log"
    python = folder / "bin" / "python"
    python.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexit 0\n')
    python.chmod(0o755)
    companion = folder / "bin" / "companion"
    companion.write_text("#!/bin/sh\nexit 0\n")
    companion.chmod(0o755)
    return calls


def run_setup(venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COMPANION_VENV": str(venv)}, stdin=subprocess.DEVNULL)


def test_a_second_run_does_not_run_pip_again(tmp_path):
    venv = tmp_path / "venv"
    calls = fake_venv(venv)
    first = run_setup(venv)
    assert first.returncode == 0, first.stderr
    assert "pip install" in calls.read_text(), "the first run installs"
    calls.write_text("")
    second = run_setup(venv)
    assert second.returncode == 0, second.stderr
    assert calls.read_text() == "", f"the second run ran pip: {calls.read_text()!r}"
    assert "already installed" in second.stdout


def test_another_pyproject_or_extras_installs_again(tmp_path):
    venv = tmp_path / "venv"
    calls = fake_venv(venv)
    assert run_setup(venv).returncode == 0
    stamp = venv / ".companion-install"
    stamp.write_text(stamp.read_text().replace(stamp.read_text()[:8], "00000000"))   # pyproject.toml changed
    calls.write_text("")
    assert run_setup(venv).returncode == 0
    assert "pip install" in calls.read_text()
