"""One-key controls and the status line: key decoding, line formatting, terminal restored on exit."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import termios
import time
from types import SimpleNamespace

import pytest

from companion.controls import Command
from companion.durations import clock
from companion.terminal.keys import KEYMAP, SHOW_HELP, action_for, split_keys
from companion.terminal.statusline import StatusView, ending_line, status_line, step_line


def a_status(**changes) -> SimpleNamespace:
    values = dict(routine="Head and neck", step_index=2, step_count=7, step_title="Jaw release",
                  doing="Circle the jaw hinge slowly", countdown_s=42.4, elapsed_s=312.0, total_s=900.0,
                  volume_db=-2.0, balance_db=0.0, paused=False, finished=False, stopped_early=False)
    values.update(changes)
    return SimpleNamespace(**values)


@pytest.mark.parametrize("key, expected", [
    (" ", ("toggle", None)), ("n", ("next", None)), ("right", ("next", None)), ("p", ("repeat", None)),
    ("left", ("repeat", None)), ("e", ("extend", 30.0)), ("+", ("volume", 1.0)), ("-", ("volume", -1.0)),
    ("v", ("balance", 1.0)), ("m", ("balance", -1.0)), ("q", ("quit", 3.0)), ("Q", ("quit", 3.0)),
    ("?", ("help", None)), ("x", None),
])
def test_each_key_maps_to_one_session_command(key, expected):
    assert action_for(key) == expected


def test_arrow_escape_sequences_are_decoded_and_unknown_ones_skipped():
    assert split_keys("\x1b[Cn\x1b[D") == ["right", "n", "left"]
    assert split_keys("\x1bOC") == ["right"]
    assert split_keys("\x1b[15~q") == ["q"], "F5 is skipped whole, q still counts"
    assert split_keys("+-") == ["+", "-"]


def test_every_key_is_a_session_command_or_help_and_every_command_but_pause_resume_has_a_key():
    posted = {command for command, _ in KEYMAP.values()}
    assert posted - set(Command) == {SHOW_HELP}, "a key names something that is neither a Command nor help"
    assert set(Command) - posted == {Command.PAUSE, Command.RESUME}, "a command no key reaches (space toggles)"


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (59.9, "0:59"), (61, "1:01"), (3600, "1:00:00"), (-3, "0:00")])
def test_clock(seconds, text):
    assert clock(seconds) == text


def test_status_line_says_routine_step_doing_countdown_elapsed_total_volume():
    line = status_line(a_status(), width=200)
    assert line == ("Head and neck | 3/7 Jaw release | Circle the jaw hinge slowly | next 0:42 | 5:12/15:00 "
                    "| vol -2 dB")


def test_status_line_when_paused_and_with_balance():
    line = status_line(a_status(paused=True, balance_db=3.0), width=200)
    assert "[paused: space resumes]" in line and "next" not in line and line.endswith("voice +3 dB")


@pytest.mark.parametrize("width", [20, 40, 60, 79, 90])
def test_status_line_never_wraps(width):
    assert len(status_line(a_status(), width=width)) < width


def test_a_narrow_status_line_drops_the_routine_then_the_countdown_then_shortens_what_to_do():
    assert status_line(a_status(), width=90) == (
        "3/7 Jaw release | Circle the jaw hinge slowly | next 0:42 | 5:12/15:00 | vol -2 dB")
    assert status_line(a_status(), width=79) == "3/7 Jaw release | Circle the jaw hinge slowly | 5:12/15:00 | vol -2 dB"
    assert status_line(a_status(), width=60) == "3/7 Jaw release | Circle the jaw ~ | 5:12/15:00 | vol -2 dB"


def test_step_and_ending_lines():
    assert step_line(a_status()) == "[5:12] step 3/7 Jaw release: Circle the jaw hinge slowly"
    assert ending_line(a_status(stopped_early=True)) == "Stopped at step 3/7 (Jaw release) after 5:12 of 15:00."
    assert ending_line(a_status(elapsed_s=900.0, finished=True)) == "Finished Head and neck (15:00)."
    asked = a_status(step_index=1, step_title="Temples", elapsed_s=200.0)
    assert ending_line(a_status(stopped_early=True), stopped_at=asked) == (
        "Stopped at step 2/7 (Temples) after 3:20 of 15:00."), "where the stop was asked, not where its fade ended"


class FakeTerminal:
    """A text sink that records writes (the StatusView's only dependency)."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def test_live_view_redraws_in_one_write_at_most_four_times_a_second():
    term = FakeTerminal()
    view = StatusView(term, live=True)
    for tick in range(40):                   # 2 s of 50 ms ticks
        view.update(a_status(), now=tick * 0.05)
    assert 7 <= len(term.writes) <= 9, "~4 redraws a second, the first at once"
    assert all(w.startswith(("\r", "\x1b[")) and w.count("\n") == 1 for w in term.writes), term.writes[:2]


def test_log_view_writes_one_line_per_step():
    term = FakeTerminal()
    view = StatusView(term, live=False)
    for step in (0, 0, 0, 1, 1, 2):
        view.update(a_status(step_index=step), now=0.0)
    assert [w.split(" ")[1:3] for w in term.writes] == [["step", "1/7"], ["step", "2/7"], ["step", "3/7"]]


KEY_CHILD = """
import sys
from companion.terminal.keys import KeyReader
with KeyReader() as reader:
    print("ready", flush=True)
    seen = []
    while len(seen) < 3:
        seen += reader.read(0.1)
    print("keys", seen, flush=True)
    if "crash" in sys.argv:
        raise RuntimeError("boom")
"""


@pytest.mark.parametrize("how", ["normal", "crash"])
def test_terminal_is_restored_after_keys_on_every_exit_path(how):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([sys.executable, "-c", KEY_CHILD, how], stdin=slave, stdout=slave, stderr=slave)
    try:
        output = b""
        deadline = time.monotonic() + 20
        while b"ready" not in output and time.monotonic() < deadline:
            output += os.read(master, 1024)
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ICANON and not during[3] & termios.ECHO, "cbreak, no echo while reading"
        os.write(master, b"n\x1b[C ")
        proc.wait(timeout=20)
        output += os.read(master, 4096)
    finally:
        proc.kill()
    after = termios.tcgetattr(slave)
    os.close(master)
    os.close(slave)
    assert b"keys ['n', 'right', ' ']" in output, output
    assert after[3] == before[3], "local modes (echo, canonical input) restored"
    assert proc.returncode == (1 if how == "crash" else 0)
