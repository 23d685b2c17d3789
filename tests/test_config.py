"""Settings file: defaults, validation messages, precedence of command-line options, `companion config`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from companion.cli import main
from companion.plan.settings import Settings, config_path, effective, load_settings
from companion.errors import ConfigError


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(folder))
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def write_settings(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)     # as companion makes it: private
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_defaults(config_dir):
    assert config_path() == config_dir / "config.toml"
    assert load_settings() == Settings()


def test_every_key_is_read_and_music_paths_are_relative_to_the_file(config_dir):
    path = write_settings(config_dir, """
music = ["calm", "~/rain.flac", "/srv/music"]
device = 3
cue_device = "earbud"
volume_db = -6
balance_db = 2.5
loudness_lufs = -22
order = "name"
""")
    settings = load_settings()
    assert settings.music == (str(config_dir / "calm"), str(Path("~/rain.flac").expanduser()), "/srv/music")
    assert (settings.device, settings.cue_device) == ("3", "earbud")
    assert (settings.volume_db, settings.balance_db, settings.loudness_lufs) == (-6.0, 2.5, -22.0)
    assert settings.order == "name" and settings.source == path


def test_a_single_music_path_may_be_a_string(config_dir):
    write_settings(config_dir, 'music = "/srv/music"\n')
    assert load_settings().music == ("/srv/music",)


def test_unknown_keys_get_a_did_you_mean(config_dir):
    path = write_settings(config_dir, "volme_db = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert str(path) in message and "'volme_db'" in message and "did you mean 'volume_db'" in message


@pytest.mark.parametrize("line, allowed", [
    ('volume_db = "loud"', "must be a number (dB), got 'loud'"),
    ("volume_db = 30", "a number from -40 to 12 (dB)"),
    ("balance_db = true", "must be a number (dB), got True"),
    ("loudness_lufs = -5", "a number from -35 to -10 (LUFS)"),
    ('order = "random"', "'shuffle' or 'name'"),
    ("music = [1, 2]", "a path or a list of paths"),
    ('device = ""', "a device index (number) or part of its name"),
])
def test_wrong_values_name_file_key_given_and_allowed(config_dir, line, allowed):
    path = write_settings(config_dir, line + "\n")
    key, given = (part.strip() for part in line.split("=", 1))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert str(path) in message, message
    assert f"{key} " in message, message
    assert allowed in message, message


def test_broken_toml_is_a_config_error_with_the_line(config_dir):
    path = write_settings(config_dir, "volume_db = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings()
    assert str(path) in str(caught.value) and "line 1" in str(caught.value)


def test_command_line_options_win_over_the_file(config_dir):
    write_settings(config_dir, 'volume_db = -6\nmusic = ["/srv/music"]\norder = "name"\n')
    settings = load_settings()
    assert effective(None, "volume_db", settings) == -6.0, "no option: the file's value"
    assert effective(0.0, "volume_db", settings) == 0.0, "an explicit 0 still wins"
    assert effective((), "music", settings) == ("/srv/music",), "unused multiple option: the file's value"
    assert effective(("mine",), "music", settings) == ("mine",)
    assert effective(None, "device", settings) is None, "neither given: the default"
    assert effective(None, "order") == "name", "settings are loaded when not passed"
    with pytest.raises(KeyError):
        effective(None, "volume", settings)


def test_config_command_prints_path_and_effective_settings(config_dir):
    runner = CliRunner()
    result = runner.invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    assert str(config_dir / "config.toml") in result.output and "built-in defaults" in result.output
    write_settings(config_dir, 'volume_db = -6\ncue_device = "earbud"\n')
    result = runner.invoke(main, ["config"])
    assert "volume_db      = -6" in result.output and 'cue_device     = "earbud"' in result.output


def test_config_init_writes_a_commented_file_that_loads_as_defaults(config_dir):
    result = CliRunner().invoke(main, ["config", "--init"])
    assert result.exit_code == 0 and (config_dir / "config.toml").is_file()
    assert load_settings() == Settings(source=config_dir / "config.toml")
    again = CliRunner().invoke(main, ["config", "--init"])
    assert "already exists" in again.output


def test_a_bad_settings_file_is_one_error_line_and_exit_2(config_dir):
    write_settings(config_dir, "volme_db = 3\n")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: settings file")


@pytest.mark.parametrize("args", [["config"], ["music"], ["music", "scan"], ["ambient"]])
def test_settings_music_and_ambient_commands_have_help_with_an_example(args):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and f"companion {args[0]}" in result.output
