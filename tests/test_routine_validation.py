"""Every routine-validation error: it names the file, the step and the key, what was given and what is allowed."""

from __future__ import annotations

import pytest

from companion.errors import ExitCode, RoutineError
from companion.plan.routine import load_routine, parse_duration

GOOD_STEP = '[[steps]]\nid = "one"\ntitle = "One"\nlines = ["Hello."]\nhold = 10\n'


def write(tmp_path, text: str, name: str = "r.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    message = str(caught.value)
    assert str(path) in message, f"the message must name the file: {message}"
    assert "\n" not in message, "one line"
    return message


def test_a_valid_routine_loads_with_its_values(tmp_path):
    routine = load_routine(write(tmp_path, 'name = "R"\n[session]\nminutes = 12\nduck_db = 10\n' + GOOD_STEP
                                 + '[[steps]]\nid = "two"\ntitle = "Two"\nhold = "1:30"\nchime_end = true\n'
                                 'breath = { in_s = 4, out_s = 6 }\n'))
    assert [s.id for s in routine.steps] == ["one", "two"]
    assert routine.steps[1].hold_s == 90.0 and routine.steps[1].breath.out_s == 6.0
    assert routine.options.minutes == 12 and routine.options.duck_db == 10


@pytest.mark.parametrize("text, expected", [
    ('name = "R"\n' + GOOD_STEP.replace("hold = 10", "hodl = 10"), "unknown key 'hodl' (did you mean 'hold'?)"),
    ('name = "R"\n' + GOOD_STEP + 'extra = 1\n', "unknown key 'extra'"),
    ('nmae = "R"\n' + GOOD_STEP, "unknown key 'nmae' (did you mean 'name'?)"),
    ('name = "R"\n[session]\nminuts = 3\n' + GOOD_STEP, "unknown key 'session.minuts' (did you mean 'session.minutes'?)"),
    ('name = "R"\n' + GOOD_STEP.replace("hold = 10", 'hold = "ten"'), "'hold' must be seconds (a number) or \"m:ss\", got 'ten'"),
    ('name = "R"\n' + GOOD_STEP.replace("hold = 10", "hold = -5"), "'hold' is -5; allowed: 0 up to 4 hours"),
    ('name = "R"\n' + GOOD_STEP.replace('lines = ["Hello."]\n', "").replace("hold = 10", "hold = 0"),
     "'hold' is 0; allowed: more than 0 up to 4 hours"),
    ('name = "R"\n' + GOOD_STEP.replace("hold = 10", 'hold = "4:00:01"'), "'hold' is '4:00:01'; allowed: 0 up to 4 hours"),
    ('name = "R"\n' + GOOD_STEP.replace("hold = 10", "hold = true"), "'hold' must be seconds"),
    ('name = "R"\n' + GOOD_STEP.replace("hold = 10\n", ""), "step 1 ('one'): 'hold' is missing"),
    ('name = "R"\n' + GOOD_STEP + GOOD_STEP, "step 2: id 'one' is already used by step 1"),
    ('name = "R"\n', "the routine has no steps"),
    ('name = "R"\nsteps = []\n', "the routine has no steps"),
    ('description = "x"\n' + GOOD_STEP, "'name' is missing"),
    ('name = 3\n' + GOOD_STEP, "'name' must be a non-empty string, got 3"),
    ('name = "R"\n' + GOOD_STEP.replace('id = "one"', 'id = "One Two"'), "id 'One Two' may only use a-z, 0-9 and '-'"),
    ('name = "R"\n' + GOOD_STEP.replace('lines = ["Hello."]', 'lines = "Hello."'), "'lines' must be a list"),
    ('name = "R"\n' + GOOD_STEP.replace('lines = ["Hello."]', 'lines = [""]'), "lines[1]: the text is empty"),
    ('name = "R"\n' + GOOD_STEP.replace('lines = ["Hello."]', 'lines = [{ clip = "nope.wav" }]'),
     "lines[1]: clip file not found"),
    ('name = "R"\n' + GOOD_STEP.replace('lines = ["Hello."]', 'lines = [{ txt = "Hi" }]'),
     "unknown key 'txt' (did you mean 'text'?)"),
    ('name = "R"\n[session]\nduck_db = 50\n' + GOOD_STEP, "session.duck_db is 50; allowed: a number from 3 to 30 (dB)"),
    ('name = "R"\n[session]\nfade_out_s = 5\n' + GOOD_STEP, "session.fade_out_s is 5; allowed: a number from 15 to 600 (s)"),
    ('name = "R"\n[session]\nloudness_lufs = "loud"\n' + GOOD_STEP, "session.loudness_lufs must be a number (LUFS), got 'loud'"),
    ('name = "R"\n[session]\nchimes = "yes"\n' + GOOD_STEP, "session.chimes must be true, false or \"soft\""),
    ('name = "R"\n[session]\npace = "fast"\n' + GOOD_STEP, "session.pace must be \"normal\" or \"slow\", got 'fast'"),
    ('name = "R"\n[session]\nmusic = 3\n' + GOOD_STEP, "session.music must be \"builtin\""),
    ('name = "R"\n' + GOOD_STEP + 'chime_end = "yes"\n', "chime_end must be true or false, got 'yes'"),
    ('name = "R"\n' + GOOD_STEP + 'breath = { in_s = 4 }\n', "'breath' needs both in_s and out_s"),
    ('name = "R"\n' + GOOD_STEP + 'breath = { in_s = 4, out_s = 40 }\n', "breath.out_s is 40; allowed: a number from 1 to 20 (s)"),
    ('name = "R"\n[[steps]\n', "not valid TOML"),
])
def test_each_mistake_gets_a_clear_message(tmp_path, text, expected):
    message = error_for(tmp_path, text)
    assert expected in message, message


def test_a_binary_file_is_not_a_routine(tmp_path):
    path = tmp_path / "r.toml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(RoutineError, match="not a text file"):
        load_routine(path)


def test_an_unknown_routine_name_suggests_a_built_in(tmp_path):
    with pytest.raises(RoutineError) as caught:
        load_routine("head-and-nek")
    assert "no routine named 'head-and-nek'" in str(caught.value)
    assert "did you mean 'head-and-neck'?" in str(caught.value)


def test_clip_paths_are_relative_to_the_routine_file(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_bytes(b"RIFF")
    routine = load_routine(write(tmp_path, 'name = "R"\n' + GOOD_STEP.replace(
        'lines = ["Hello."]', 'lines = [{ text = "Hi", clip = "clips/a.wav" }]')))
    assert routine.steps[0].lines[0].clip == (tmp_path / "clips" / "a.wav").resolve()


@pytest.mark.parametrize("value, seconds", [(90, 90.0), (2.5, 2.5), ("1:30", 90.0), ("0:05", 5.0), ("1:00:00", 3600.0)])
def test_durations_read_as_seconds_or_minutes_and_seconds(value, seconds):
    assert parse_duration(value, "r.toml", "hold") == seconds


@pytest.mark.parametrize("kind", ["folder", "audio file"])
def test_music_given_where_a_routine_goes_points_at_music(tmp_path, kind):
    """`companion play ~/Music/calm`: one line that says to use --music, not 'no routine named ...'."""
    from click.testing import CliRunner

    from companion.cli import main

    target = tmp_path / "calm"
    if kind == "folder":
        target.mkdir()
    else:
        target = tmp_path / "rain.mp3"
        target.write_bytes(b"ID3")
    result = CliRunner().invoke(main, ["render", str(target), "-o", str(tmp_path / "out.wav")])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert f"is {'a' if kind == 'folder' else 'an'} {kind}, not a routine" in result.output
    assert f"companion play --music {target}" in result.output
