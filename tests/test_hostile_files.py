"""Hostile files (issue 9, classes 3 and 5): a routine or settings file that is a FIFO, an endless device, too
large or nested too deeply, and music folders holding symlink loops — one line, the right exit code, no
traceback and no hang. The corpus is generated here (no copies of system files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from companion.plan.textfile import ROUTINE_MAX_BYTES, SETTINGS_MAX_BYTES

GOOD_ROUTINE = 'name = "R"\n[[steps]]\nid = "one"\ntitle = "One"\nhold = 10\n'
TIME_LIMIT_S = 20


def run(args: list[str], tmp_path: Path, *, may_hang: bool = True) -> subprocess.CompletedProcess:
    """``companion ARGS`` in a child process with a time limit (``may_hang``: what used to wait forever),
    else in-process through click's runner (faster), with the same result fields."""
    env = {**os.environ, "COMPANION_CONFIG_DIR": str(tmp_path / "config"),
           "COMPANION_CACHE_DIR": str(tmp_path / "cache")}
    if may_hang:
        return subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True,
                              timeout=TIME_LIMIT_S, env=env, stdin=subprocess.DEVNULL)
    from click.testing import CliRunner

    from companion.cli import main

    result = CliRunner().invoke(main, args, env=env)   # click 8.2: stdout and stderr kept apart
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def assert_one_line(done: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def link_to_dev_zero(path: Path) -> Path:
    path.symlink_to("/dev/zero")      # a character device that never ends
    return path


def too_large(path: Path, limit: int, valid: str) -> Path:
    path.write_text(valid + "# padding\n" * (limit // 10 + 10))    # valid TOML, one file too many bytes
    return path


def too_deep(path: Path, valid: str, depth: int = 5000) -> Path:
    path.write_text(valid + f'x = {"[" * depth}{"]" * depth}\n')
    return path


HOSTILE = {   # kind: (make the file at path, the words the one error line must hold)
    "fifo": (lambda path, limit, valid: make_fifo(path), "named pipe"),
    "dev-zero": (lambda path, limit, valid: link_to_dev_zero(path), "character device"),
    "too-large": (too_large, "too large"),
    "too-deep": (lambda path, limit, valid: too_deep(path, valid), "nested too deeply"),
    "folder": (lambda path, limit, valid: (path.mkdir(), path)[1], "a folder"),
}


def hostile(kind: str, path: Path, limit: int, valid: str) -> Path:
    return HOSTILE[kind][0](path, limit, valid)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_routine_file_is_refused_in_one_line(tmp_path, kind):
    path = hostile(kind, tmp_path / "r.toml", ROUTINE_MAX_BYTES, GOOD_ROUTINE)
    done = run(["routines", "check", str(path)], tmp_path, may_hang=kind in ("fifo", "dev-zero"))
    assert_one_line(done, 2, str(path), HOSTILE[kind][1])


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_settings_file_is_refused_in_one_line(tmp_path, kind):
    (tmp_path / "config").mkdir(mode=0o700)       # private, as companion makes it
    hostile(kind, tmp_path / "config" / "config.toml", SETTINGS_MAX_BYTES, 'order = "name"\n')
    done = run(["config"], tmp_path, may_hang=kind in ("fifo", "dev-zero"))
    assert_one_line(done, 2, "settings file", HOSTILE[kind][1])


def test_symlink_loops_in_a_music_folder_are_skipped_with_one_line_each(tmp_path):
    folder = tmp_path / "music"
    (folder / "sub").mkdir(parents=True)
    t = np.arange(48_000) / 48_000
    soundfile.write(folder / "tone.wav", 0.1 * np.sin(2 * np.pi * 440 * t), 48_000)
    (folder / "self.wav").symlink_to("self.wav")
    (folder / "a.flac").symlink_to("b.flac")
    (folder / "b.flac").symlink_to("a.flac")
    (folder / "sub" / "up").symlink_to("..")     # a folder loop
    done = run(["music", "scan", str(folder)], tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    warnings = done.stderr.splitlines()
    assert len(warnings) == 3 and all("symbolic links" in w for w in warnings), done.stderr
    assert "1 playable" in done.stdout, done.stdout
