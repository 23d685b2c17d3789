"""No terminal injection, no forged lines (issue 9, class 4): every string that comes from a file or a file
name is printed with its control characters made visible (``companion.terminal.text.visible``).

The corpus puts ESC sequences (colour, window title), CR, LF (a forged "OK:" line), BEL, C1 controls and a
bidi override into every field a person can write — routine name, description, step id, title, what to
do, spoken lines, unknown keys, settings keys and values, music file names, routine file names — and
checks everything printed: no raw control character reaches stdout or stderr, and no forged line appears.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from companion.cli import main
from companion.terminal.text import visible

EVIL = "\x1b[31mRED\x1b]0;pwned\x07\rX\nOK: forged\x9b2J\x85\u202eTXT"
RAW = ["\x1b", "\r", "\x07", "\x9b", "\x85", "\u202e"]


def toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` (control characters as \\uXXXX escapes, which TOML allows)."""
    return json.dumps(text)


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))


def assert_clean(result) -> None:
    for stream_name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        for char in RAW:
            assert char not in text, f"raw {char!r} in {stream_name}: {text!r}"
        assert not any(line.startswith("OK: forged") for line in text.splitlines()), text
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def routine_file(folder: Path, *, name: str = EVIL, title: str = EVIL, do: str = EVIL, line: str = EVIL,
                 step_id: str = "one", extra: str = "", file_name: str = "r.toml") -> Path:
    path = folder / file_name
    path.write_text(f"name = {toml_string(name)}\ndescription = {toml_string(EVIL)}\n"
                    f"[session]\nmusic = \"none\"\n{extra}"
                    f"[[steps]]\nid = {toml_string(step_id)}\ntitle = {toml_string(title)}\n"
                    f"do = {toml_string(do)}\nhold = 10\n"
                    f"[[steps]]\nid = \"two\"\ntitle = {toml_string(title)}\nlines = [{toml_string(line)}]\nhold = 0\n",
                    encoding="utf-8")
    return path


def test_visible_shows_every_control_character_and_keeps_the_rest():
    shown = visible(EVIL + "é ü 日本 \\ tab\there")
    for char in [*RAW, "\n", "\t"]:
        assert char not in shown
    assert "\\x1b[31mRED" in shown and "\\n" in shown and "\\r" in shown and "\\u202e" in shown
    assert "é ü 日本 \\ tab" in shown


@pytest.mark.parametrize("args", [["routines", "show", "{file}", "--lines"], ["routines", "check", "{file}"]])
def test_routine_texts_are_printed_visibly(tmp_path, args):
    path = routine_file(tmp_path)
    result = CliRunner().invoke(main, [a.replace("{file}", str(path)) for a in args])
    assert_clean(result)
    assert "\\x1b[31mRED" in result.output, result.output


@pytest.mark.parametrize("mistake", [
    dict(step_id=EVIL),                               # id in the "may only use" error
    dict(extra=f"{toml_string(EVIL)} = 1\n"),         # an unknown key in [session]
    dict(name=""),                                    # (the file name carries the control characters)
])
def test_routine_errors_name_the_bad_text_visibly(tmp_path, mistake):
    file_name = "evil\x1b[2J\r.toml" if mistake.get("name") == "" else "r.toml"
    path = routine_file(tmp_path, file_name=file_name, **mistake)
    result = CliRunner().invoke(main, ["routines", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert_clean(result)
    assert result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("text", [f"{toml_string(EVIL)} = 1\n", f"order = {toml_string(EVIL)}\n",
                                  f"music = [{toml_string(EVIL)}]\n"])
def test_settings_keys_and_values_are_printed_visibly(tmp_path, text):
    (tmp_path / "config").mkdir(mode=0o700)      # private, as companion makes it
    (tmp_path / "config" / "config.toml").write_text(text, encoding="utf-8")
    assert_clean(CliRunner().invoke(main, ["config"]))


def test_music_file_names_in_warnings_are_printed_visibly(tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    (folder / "broken\x1b[31m\rOK\x07.mp3").write_bytes(b"not audio at all")
    t = np.arange(48_000 * 20) / 48_000           # longer than the session: one decode, not one per loop
    soundfile.write(folder / "tone\x9b\x85.wav", 0.1 * np.sin(2 * np.pi * 330 * t), 48_000)
    result = CliRunner().invoke(main, ["music", "scan", str(folder)])
    assert result.exit_code == 0, result.output
    assert_clean(result)
    assert "broken\\x1b[31m\\rOK\\x07.mp3" in result.stderr, result.stderr
    out = tmp_path / "out.wav"
    result = CliRunner().invoke(main, ["ambient", "--minutes", "0.25", "--fade-out", "5",
                                       "--music", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert_clean(result)


def test_status_step_and_end_lines_show_titles_visibly():
    from companion.mix.session import Status
    from companion.terminal.statusline import ending_line, status_line, step_line

    status = Status(routine=EVIL, step_index=0, step_count=2, step_title=EVIL, doing=EVIL, speaking=False,
                    countdown_s=3.0, elapsed_s=5.0, total_s=60.0, volume_db=0.0, balance_db=0.0, paused=False,
                    finished=False, stopped_early=True)
    for text in (status_line(status, width=400), step_line(status), ending_line(status, interrupted=True),
                 ending_line(Status(**{**status.__dict__, "stopped_early": False}))):
        assert not any(char in text for char in [*RAW, "\n"]), repr(text)


def test_a_newline_in_a_title_cannot_add_a_line_to_the_cue_sheet(tmp_path):
    path = routine_file(tmp_path, title='Jaw "release"\nTRACK 99 AUDIO\n    TITLE "forged"')
    out = tmp_path / "session.wav"
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert_clean(result)
    sheet = out.with_suffix(".cue").read_text(encoding="utf-8").splitlines()
    assert sum(line.strip().startswith("TRACK") for line in sheet) == 2, sheet
    assert len(sheet) == 1 + 3 * 2, sheet
    assert all(line.count('"') == 2 for line in sheet if "TITLE" in line), sheet
