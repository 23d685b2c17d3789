"""No dangerous numbers (issue 9, class 2): every number a person types that reaches a gain or a length.

NaN, ±inf and huge values, given as a command-line option, a settings key or a routine key, end in one
``Error:`` line and exit 2 before any sound; a non-finite sample that gets past all that is silenced by the
output stage's last-line guard; a loud ``--loudness`` comes out at what was asked (ffmpeg's ebur128 judges).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from companion.cli import main
from tests import measure

BAD_NUMBERS = ["nan", "-inf", "1e9", "1e999"]

# (command words before the option, option): every float option that reaches a gain or a length.
NUMBER_OPTIONS = [
    (["play", "--no-keys"], "--volume"), (["play", "--no-keys"], "--loudness"), (["play", "--no-keys"], "--minutes"),
    (["render", "-o", "{out}"], "--loudness"), (["render", "-o", "{out}"], "--minutes"),
    (["ambient", "-o", "{out}"], "--volume"), (["ambient", "-o", "{out}"], "--loudness"),
    (["ambient", "-o", "{out}"], "--minutes"), (["ambient", "-o", "{out}"], "--fade-out"),
    (["routines", "show"], "--minutes"),
]


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def assert_one_error_line(result, *names: str) -> None:
    output = result.output
    assert result.exit_code == 2, (result.exit_code, output)
    assert output.startswith("Error: ") and output.count("\n") == 1, output
    assert "Traceback" not in output and result.exception is None or isinstance(result.exception, SystemExit)
    for name in names:
        assert name in output, output


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize("words, option", NUMBER_OPTIONS, ids=lambda x: x if isinstance(x, str) else x[0])
def test_a_bad_number_option_is_one_line_and_exit_2(tmp_path, words, option, value):
    out = tmp_path / "out.wav"
    args = [w.replace("{out}", str(out)) for w in words] + [f"{option}={value}"]
    result = CliRunner().invoke(main, args)
    assert_one_error_line(result, option, "allowed")
    assert not out.exists()


@pytest.mark.parametrize("value", ["nan", "-inf", "99999999999999999999"])
@pytest.mark.parametrize("key", ["volume_db", "balance_db", "loudness_lufs"])
def test_a_bad_number_in_the_settings_file_is_one_line_and_exit_2(private_folders, key, value):
    folder = private_folders / "config"
    folder.mkdir(mode=0o700)      # private, as companion makes it
    (folder / "config.toml").write_text(f"{key} = {value}\n", encoding="utf-8")
    for args in (["config"], ["ambient", "-o", str(private_folders / "a.wav"), "--minutes", "1"]):
        assert_one_error_line(CliRunner().invoke(main, args), key, "config.toml")


ROUTINE = 'name = "R"\n{session}[[steps]]\nid = "one"\ntitle = "One"\nlines = ["Hello."]\nhold = {hold}\n{breath}'


@pytest.mark.parametrize("value", ["nan", "-inf", "1e9"])
@pytest.mark.parametrize("key", ["minutes", "duck_db", "voice_db", "loudness_lufs", "crossfade_s", "fade_in_s",
                                 "fade_out_s", "line_gap_s", "hold", "breath.in_s", "breath.out_s"])
def test_a_bad_number_in_a_routine_is_one_line_and_exit_2(tmp_path, key, value):
    session = f"[session]\n{key} = {value}\n" if "." not in key and key != "hold" else ""
    breath = {"breath.in_s": f"breath = {{ in_s = {value}, out_s = 4 }}\n",
              "breath.out_s": f"breath = {{ in_s = 4, out_s = {value} }}\n"}.get(key, "")
    path = tmp_path / "r.toml"
    path.write_text(ROUTINE.format(session=session, hold=value if key == "hold" else 10, breath=breath))
    assert_one_error_line(CliRunner().invoke(main, ["routines", "check", str(path)]), key.split(".")[-1], str(path))


def test_a_nan_sample_from_a_music_file_never_reaches_the_output(tmp_path):
    """A float WAV holding NaN and inf: before the guard, NaN became full scale (1.0) in the 16-bit file.
    Where the NaN is handled (the loudness gate, the last-line guard) numpy's RuntimeWarnings said nothing
    new: they are errors here, so one that comes back fails the render."""
    t = np.arange(48_000 * 20) / 48_000
    tone = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    tone[48_000 * 5: 48_000 * 5 + 100] = np.nan
    tone[48_000 * 8] = np.inf
    music = tmp_path / "broken-float.wav"
    soundfile.write(music, np.stack([tone, tone], axis=1), 48_000, subtype="FLOAT")
    out = tmp_path / "out.wav"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = CliRunner().invoke(main, ["ambient", "--minutes", "0.5", "--fade-out", "5", "--music",
                                           str(music), "-o", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    audio, _ = soundfile.read(out)
    peak_db = 20 * np.log10(np.max(np.abs(audio)))
    assert np.isfinite(audio).all() and peak_db < -1.0, f"peak {peak_db:.1f} dBFS"
    assert np.max(np.abs(audio[-48_000 * 10:-48_000 * 6])) > 0.01, "the music goes on after the bad samples"


def test_loudness_minus_10_comes_out_at_minus_10(tmp_path, routine="quick-reset"):
    """Asked for -10 LUFS, the limiter used to take 1.4-1.9 LU away (-11.4 … -11.9); ±1 LU now."""
    out = tmp_path / "loud.wav"
    result = CliRunner().invoke(main, ["render", routine, "--loudness", "-10", "--minutes", "4",  # its shortest
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    lufs = measure.ffmpeg_integrated_lufs(out)
    assert abs(lufs - -10.0) <= 1.0, f"{routine}: {lufs:.2f} LUFS for --loudness -10"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_last_line_guard_silences_a_block_holding_any_non_finite_sample(bad):
    from companion.dsp.guard import silence_non_finite

    block = np.full((1024, 2), 0.5, np.float32)
    block[700, 1] = bad
    assert silence_non_finite(block) and not block.any()
    fine = np.full((1024, 2), 0.5, np.float32)
    assert not silence_non_finite(fine) and (fine == 0.5).all()
