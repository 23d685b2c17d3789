"""The CLI in-process for the studio and pack tests: ``run(*args)`` and private user folders.

Import ``private_dirs`` into a test module to use it: it is autouse, so every test there gets its own
cache, config and data folders (nothing shared with the user or another test)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from companion.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COMPANION_DATA_DIR", str(tmp_path / "data"))
