"""The live view on a terminal: the status line at 40-200 columns, the state line, the key help toggle and
key feedback, judged on a screen drawn by an independent terminal emulator (pyte), not by our own strings."""

from __future__ import annotations

from types import SimpleNamespace

import pyte
import pytest

from companion.controls import Command
from companion.terminal.keys import AMBIENT_HELP, HELP, KEYMAP, action_for, help_for
from companion.terminal.statusline import StatusView, ending_line, status_line

WIDTHS = [40, 50, 80, 200]


def a_status(**changes) -> SimpleNamespace:
    values = dict(routine="Head and neck", step_index=2, step_count=7, step_title="Jaw release and temples",
                  doing="Circle the jaw hinge slowly with two fingers", countdown_s=42.4, elapsed_s=312.0,
                  total_s=899.9999791666667, volume_db=-12.0, balance_db=-3.0, paused=False, finished=False,
                  stopped_early=False, track="A very long name of a calm piano piece (2019 remaster).flac")
    values.update(changes)
    return SimpleNamespace(**values)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("paused", [False, True])
def test_the_pause_marker_clock_and_full_volume_stay_in_view_at_every_width(width, paused):
    line = status_line(a_status(paused=paused), width)
    assert len(line) < width, f"{len(line)} characters in {width} columns would wrap"
    assert "vol -12 dB" in line and "vol ~" not in line, line
    assert "5:12/15:00" in line, line
    assert ("[paused" in line) == paused, line


@pytest.mark.parametrize("width", [80, 200])
def test_the_music_track_is_shown_when_there_is_room(width):
    line = status_line(a_status(), width)
    assert "music: A very long" in line, line


def test_a_wide_line_holds_everything_in_order():
    line = status_line(a_status(track="calm.flac"), 200)
    assert line == ("Head and neck | 3/7 Jaw release and temples | Circle the jaw hinge slowly with two fingers | "
                    "music: calm.flac | next 0:42 | 5:12/15:00 | vol -12 dB | voice -3 dB")


def test_a_track_name_cannot_move_the_cursor():
    line = status_line(a_status(track="evil\x1b[2J\r.mp3"), 200)
    assert "\x1b" not in line and "\r" not in line and "music: evil\\x1b[2J\\r.mp3" in line


def test_a_fifteen_minute_session_reads_15_00_as_routines_and_render_do():
    from companion.cli._common import length_text
    from companion.cli.routines import routine_plan
    from companion.durations import clock
    from companion.mix.assemble import build_session
    from companion.plan.routine import load_routine

    routine = load_routine("head-and-neck")
    session = build_session(routine, minutes=15, music=("none",))
    total_s = session.status().total_s
    assert clock(round(routine_plan(routine, 15).total_s)) == "15:00" == length_text(total_s)
    assert status_line(session.status(), 200).endswith("0:00/15:00 | vol +0 dB"), status_line(session.status(), 200)
    assert ending_line(a_status(elapsed_s=total_s, finished=True)) == "Finished Head and neck (15:00)."


def screen_after(view_actions, width: int, height: int = 12) -> list[str]:
    """Drive a StatusView into a pyte screen ``width`` columns wide; return the screen's non-empty lines."""
    screen = pyte.Screen(width, height)
    stream = pyte.Stream(screen)

    class Terminal:
        def write(self, text: str) -> None:
            stream.feed(text.replace("\n", "\r\n"))    # a tty in raw-ish output mode: onlcr

        def flush(self) -> None:
            pass

    import shutil

    real = shutil.get_terminal_size
    shutil.get_terminal_size = lambda fallback=(80, 24): __import__("os").terminal_size((width, height))
    try:
        view_actions(Terminal())
    finally:
        shutil.get_terminal_size = real
    return [line.rstrip() for line in screen.display if line.strip()]


def run_view(*steps, keys_help=HELP):
    """A StatusView on a live terminal; ``steps``: a status to draw, or (command, value) keys pressed."""
    def act(term) -> None:
        view = StatusView(term, live=True, keys_help=keys_help)
        now = 0.0
        for step in steps:
            now += 1.0
            if step == "?":
                view.toggle_help()
            elif isinstance(step, tuple):
                view.acknowledge(*step, now=now)
            else:
                view.update(step, now=now)
    return act


@pytest.mark.parametrize("width", WIDTHS)
def test_the_block_never_wraps_and_never_splits_a_word(width):
    lines = screen_after(run_view(a_status(), a_status(), a_status(paused=True)), width)
    assert lines[0] == "Paused." and lines[-1] == status_line(a_status(paused=True), width)
    assert all(len(line) < width for line in lines)
    help_lines = lines[1:-1]
    assert " ".join(help_lines).split() == HELP.split(), f"a word was split or lost: {help_lines}"


@pytest.mark.parametrize("width", [50, 80])
def test_the_top_line_says_paused_while_paused_and_playing_again_after(width):
    assert screen_after(run_view(a_status(), a_status(paused=True)), width)[0] == "Paused."
    assert screen_after(run_view(a_status(paused=True), a_status()), width)[0] == "Playing."


def test_question_mark_hides_and_shows_one_copy_of_the_keys():
    one = run_view(a_status(), "?", a_status(), "?", a_status(), "?", a_status(), "?", a_status())
    lines = screen_after(one, 80)
    assert sum(line.startswith("Keys:") for line in lines) == 1, lines
    assert lines == screen_after(run_view(a_status()), 80), "after two hide/show rounds: the first screen again"
    hidden = screen_after(run_view(a_status(), "?", a_status()), 80)
    assert not any(line.startswith("Keys:") for line in hidden) and "? shows the keys" in hidden[0], hidden


@pytest.mark.parametrize("command, value, said", [
    (Command.REPEAT, None, "Repeating the prompt"), (Command.EXTEND, 30.0, "+30 s on this step"),
    (Command.NEXT, None, "Next step"), (Command.QUIT, 3.0, "Ending gently..."),
])
def test_p_e_n_and_q_are_answered_on_the_top_line(command, value, said):
    lines = screen_after(run_view(a_status(), (command, value), a_status()), 80)
    assert said in lines[0], lines


def test_feedback_fades_from_the_top_line_and_quit_stays():
    later = run_view(a_status(), (Command.REPEAT, None), a_status(), a_status(), a_status(), a_status())
    assert screen_after(later, 80)[0] == "Playing."
    quitting = run_view(a_status(), (Command.QUIT, 3.0), a_status(), a_status(), a_status(), a_status())
    assert screen_after(quitting, 80)[0] == "Ending gently..."


def test_ambient_advertises_only_the_keys_that_work_there():
    assert help_for(False) == AMBIENT_HELP and help_for(True) == HELP
    advertised = {"space": " ", "+/-": "+", "q": "q", "?": "?"}
    for word, key in advertised.items():
        assert word in AMBIENT_HELP and action_for(key, has_steps=False) is not None
    dead = [key for key in KEYMAP if action_for(key, has_steps=False) is None]
    assert sorted(dead) == sorted(["n", "right", "p", "left", "e", "v", "m"]), dead
    for key in dead:
        assert f" {key} " not in f" {AMBIENT_HELP} ", f"{key!r} advertised but does nothing in ambient"


def test_the_status_names_the_music_track_being_played(tmp_path):
    import numpy as np

    from companion.mix.assemble import build_session
    from companion.plan.routine import load_routine
    from tests import sessionkit as kit

    kit.write(tmp_path / "rain on\x1b[31m glass.wav", kit.tone(20.0, 220.0))
    session = build_session(load_routine("quick-reset"), music=(str(tmp_path),))
    try:
        block = np.zeros((4800, 2), np.float32)
        for _ in range(10):
            session.render(block)
        assert session.status().track == "rain on\x1b[31m glass.wav"
        assert "music: rain on\\x1b[31m glass.wav" in status_line(session.status(), 200)
    finally:
        session.close()


def test_the_status_names_the_track_heard_not_the_one_the_mixer_reads_ahead(tmp_path):
    """A live player renders ~0.6 s ahead: at a track change, the status asked for the heard frame still
    names the track before the change until the change itself is heard."""
    import numpy as np

    from companion.mix.assemble import build_session
    from companion.plan.routine import load_routine
    from tests import sessionkit as kit

    for name in ("first.wav", "second.wav"):
        kit.write(tmp_path / name, kit.tone(12.0, 220.0))
    session = build_session(load_routine("quick-reset"), music=(str(tmp_path / "first.wav"),
                                                                 str(tmp_path / "second.wav")), seed=0)
    try:
        block = np.zeros((4800, 2), np.float32)
        session.render(block)
        first = session.status().track
        rendered, changed_at = len(block), None
        while changed_at is None and rendered < 40 * 48_000:
            session.render(block)
            rendered += len(block)
            if session.status().track != first:
                changed_at = rendered
        assert changed_at is not None, "the music moved on to the other track"
        second = session.status().track
        assert {first, second} == {"first.wav", "second.wav"}
        behind = changed_at - 2 * len(block)
        assert session.status(heard_frame=behind).track == first
        assert session.status(heard_frame=changed_at).track == second
    finally:
        session.close()


@pytest.mark.parametrize("width", [40, 50, 80])
def test_the_key_help_breaks_between_entries_never_between_a_key_and_its_word(width):
    from companion.terminal.statusline import help_lines

    lines = help_lines(HELP, width)
    assert all(len(line) < width for line in lines)
    for entry in HELP.split("  "):
        assert any(entry in line for line in lines), f"{entry!r} split across lines: {lines}"
