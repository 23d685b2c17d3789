"""C libraries' chatter on file descriptor 2 (libmpg123 in libsndfile, ALSA) never reaches the terminal;
companion's own lines still do. Judged on the real stderr of real processes, with a real damaged mp3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import sessionkit as kit

COMPANION = os.path.join(os.path.dirname(sys.executable), "companion")
NOISE = ("Illegal Audio-MPEG-Header", "Note:", "Xing")


@pytest.fixture(scope="module")
def damaged_mp3(tmp_path_factory) -> Path:
    """An 8 s mp3 made by ffmpeg, then 600 zero bytes written over every 4 kB past its start."""
    folder = tmp_path_factory.mktemp("mp3")
    good = folder / "good.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=8", "-ac", "2", "-b:a", "128k",
                    str(good)], check=True, timeout=60)
    data = bytearray(good.read_bytes())
    for offset in range(20_000, len(data) - 2_000, 4_000):
        data[offset:offset + 600] = bytes(600)
    damaged = folder / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    return damaged


def test_the_damaged_mp3_does_make_libmpg123_talk(damaged_mp3):
    """The premise: read plainly with soundfile, this file writes libmpg123 notes to fd 2."""
    code = f"import soundfile; soundfile.read({str(damaged_mp3)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Illegal Audio-MPEG-Header" in result.stderr, result.stderr


def test_a_damaged_mp3_clip_renders_with_a_clean_stderr(damaged_mp3, tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "hello.mp3").write_bytes(damaged_mp3.read_bytes())
    routine = kit.routine_file(tmp_path, [{"id": "one", "clips": ["clips/hello.mp3"], "hold": 2}],
                               session={"fade_in_s": 5, "fade_out_s": 15})
    result = subprocess.run([COMPANION, "render", str(routine), "--music", "none", "-o", str(tmp_path / "out.wav")],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert not any(noise in result.stderr for noise in NOISE), result.stderr
    assert (tmp_path / "out.wav").stat().st_size > 100_000


QUIET_CHILD = """
import logging, os, sys
import click
from companion.cli import _log_warnings_as_lines
from companion.terminal.console import quiet_c_stderr
_log_warnings_as_lines()
os.write(2, b"before\\n")
with quiet_c_stderr():
    with quiet_c_stderr():                        # nested, as a clip read inside playback
        os.write(2, b"ALSA lib pcm.c: underrun occurred\\n")
    os.write(2, b"Note: Illegal Audio-MPEG-Header\\n")
    click.echo("Warning: mine, via click", err=True)
    logging.getLogger("companion").warning("mine, via the log")
    print("mine, via print", file=sys.stderr)
os.write(2, b"after\\n")
"""


def test_c_writes_to_fd_2_vanish_while_companions_own_lines_stay():
    result = subprocess.run([sys.executable, "-c", QUIET_CHILD], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["before", "Warning: mine, via click", "Warning: mine, via the log",
                                          "mine, via print", "after"], result.stderr


def test_a_stream_picked_up_while_quiet_still_writes_after_the_quiet_ends():
    """A progress bar takes ``sys.stderr`` while a worker thread is inside quiet_c_stderr(); when the worker
    leaves, that stream must still work (it was closed: 'I/O operation on closed file' mid-render)."""
    import subprocess
    import sys

    code = """
import sys, threading
from companion.terminal.console import quiet_c_stderr
inside, leave = threading.Event(), threading.Event()
def worker():
    with quiet_c_stderr():
        inside.set()
        leave.wait()
t = threading.Thread(target=worker)
t.start()
inside.wait()
held = sys.stderr          # what click.progressbar(file=sys.stderr) keeps
leave.set()
t.join()
held.write("still here\\n")
held.flush()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "still here" in done.stderr
