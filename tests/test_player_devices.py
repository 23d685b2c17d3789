"""`companion devices`, --device matching and the no-device message, on the real PortAudio path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from companion.output.device import NO_DEVICE_MESSAGE
from tests.conftest import machine_has_sound_card

COMPANION = [os.path.join(os.path.dirname(sys.executable), "companion")]


def run_companion(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*COMPANION, *args], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else os.environ.copy(), stdin=subprocess.DEVNULL)


def no_device_env(virtual_sound) -> dict[str, str]:
    """PortAudio with the system ALSA config and PulseAudio pointing nowhere: no output device at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "ALSA_"))}
    env.update(PULSE_SERVER="unix:/nonexistent/native", PULSE_CLIENTCONFIG=virtual_sound.env["PULSE_CLIENTCONFIG"],
               PULSE_RUNTIME_PATH=str(virtual_sound.dir / "nowhere"))
    return env


def test_devices_lists_the_virtual_sinks_and_marks_the_default(virtual_sound):
    result = run_companion("devices")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["index", "name", "host", "API", "channels", "default", "rate"]
    end = lines.index("* = default output")
    names = [line[1:].split()[1] for line in lines[1:end]]
    assert "companion_room" in names and "companion_cue" in names and "default" in names
    default_rows = [line for line in lines[1:end] if line.startswith("*")]
    assert len(default_rows) == 1 and " default " in default_rows[0], result.stdout
    inputs = lines[end + 1:]       # then the inputs, for `companion record --input`
    assert inputs[1] == "Inputs, for `companion record --input`:" and inputs[-1] == "* = default input", result.stdout
    assert "companion_mic" in [line[1:].split()[1] for line in inputs[3:-1]]


def test_unknown_device_lists_the_choices_and_exits_2(virtual_sound):
    result = run_companion("play", "--device", "no-such-speaker", "--no-keys")
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert message.startswith("Error: --device 'no-such-speaker' is not an output device; choose an index or part")
    for name in ("companion_room", "companion_cue", "default"):
        assert name in message, message
    assert "companion devices" in message


def test_device_by_index_or_name_part(virtual_sound):
    code = ("from companion.output.device import resolve_device as r; "
            "print(r('cue').name, r(str(r('room').index)).name, r(None).is_default)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["companion_cue", "companion_room", "True"], result.stderr


def test_ambiguous_device_name_lists_the_matches(virtual_sound):
    code = "from companion.output.device import resolve_device as r; r('companion_')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "matches several output devices" in result.stderr
    assert "companion_room" in result.stderr and "companion_cue" in result.stderr
    assert "'default'" not in result.stderr


@pytest.mark.skipif(machine_has_sound_card(), reason="this machine has a real sound card: 'no device' cannot be made")
def test_no_device_says_so_in_one_line_and_exits_1(virtual_sound):
    result = run_companion("devices", env=no_device_env(virtual_sound))
    assert result.returncode == 1
    assert result.stderr == f"Error: {NO_DEVICE_MESSAGE}\n"
    assert "libportaudio2" in NO_DEVICE_MESSAGE and "companion render -o FILE" in NO_DEVICE_MESSAGE


def test_no_portaudio_library_is_a_device_error_naming_the_package(tmp_path):
    # A sounddevice that cannot find PortAudio raises OSError on import; shadow it with one that does.
    (tmp_path / "sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = run_companion("devices", env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("Error: the PortAudio library is not installed") and "libportaudio2" in line, line
    assert "\n" not in line


def test_render_does_not_import_sounddevice():
    code = "import sys, companion.cli; assert 'sounddevice' not in sys.modules, 'imported eagerly'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("given", ["fast", "nan", "inf", "5", "-300", "1e9"])
def test_a_bad_device_buffer_setting_is_one_line_naming_it_and_the_range(monkeypatch, given):
    from companion.errors import BadInputError
    from companion.output.device import device_buffer_s

    monkeypatch.setenv("COMPANION_DEVICE_BUFFER_MS", given)
    with pytest.raises(BadInputError, match=r"COMPANION_DEVICE_BUFFER_MS='.*' is not a device buffer in "
                                            r"milliseconds; allowed: 20 to 2000"):
        device_buffer_s()


def test_the_device_buffer_setting_is_read_in_milliseconds(monkeypatch):
    from companion.output.device import LATENCY_S, device_buffer_s

    monkeypatch.setenv("COMPANION_DEVICE_BUFFER_MS", " 300 ")
    assert device_buffer_s() == 0.3
    monkeypatch.delenv("COMPANION_DEVICE_BUFFER_MS")
    assert device_buffer_s() == LATENCY_S


def _no_device_home_env(virtual_sound, home) -> dict[str, str]:
    """No device, and a home of its own (no XDG_* pointing elsewhere), so the fallback file lands in it."""
    env = {k: v for k, v in no_device_env(virtual_sound).items() if not k.startswith("XDG_")}
    env.update(HOME=str(home))
    return env


@pytest.mark.skipif(machine_has_sound_card(), reason="this machine has a real sound card: 'no device' cannot be made")
def test_ambient_without_a_device_renders_to_the_music_folder_and_says_where(virtual_sound, tmp_path):
    home = tmp_path / "home"
    (home / "Music").mkdir(parents=True)
    (home / "Music" / "companion-ambient.mp3").write_bytes(b"last week's treatment")   # never overwritten
    result = subprocess.run([*COMPANION, "ambient", "--minutes", "0.25", "--fade-out", "5", "--music", "none",
                             "--no-keys"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                            env=_no_device_home_env(virtual_sound, home), cwd=tmp_path)
    target = home / "Music" / "companion-ambient-2.mp3"
    lines = result.stderr.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0].startswith("No sound output device found"), lines
    assert "companion render" not in result.stderr, "render makes a guided session, not ambient music"
    assert lines[1] == f"Rendering the ambient music to a file instead: {target}"
    assert lines[-1] == f"Saved {target} (0:15). Play it with any audio player."
    assert target.stat().st_size > 10_000
    assert (home / "Music" / "companion-ambient.mp3").read_bytes() == b"last week's treatment"
    assert list(tmp_path.iterdir()) == [home], "nothing written in the current folder"


@pytest.mark.skipif(machine_has_sound_card(), reason="this machine has a real sound card: 'no device' cannot be made")
def test_without_a_music_folder_the_fallback_file_goes_home_not_to_the_current_folder(virtual_sound, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    here = tmp_path / "repo"
    here.mkdir()
    result = subprocess.run([*COMPANION, "ambient", "--minutes", "0.25", "--fade-out", "5", "--music", "none",
                             "--no-keys"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                            env=_no_device_home_env(virtual_sound, home), cwd=here)
    assert result.returncode == 0, result.stderr
    assert f"Saved {home / 'companion-ambient.mp3'} (0:15)" in result.stderr
    assert list(here.iterdir()) == []


def test_a_bad_cue_device_is_named_as_the_cue_device(virtual_sound):
    result = run_companion("ambient", "--cue-device", "earbud", "--no-keys", "--music", "none")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: --cue-device 'earbud' is not an output device; choose"), result.stderr


@pytest.mark.parametrize("command, key", [("play", "device"), ("ambient", "device"), ("ambient", "cue_device")])
def test_a_bad_device_in_the_settings_file_names_the_file_and_key(virtual_sound, tmp_path, command, key):
    folder = tmp_path / "config"
    folder.mkdir(mode=0o700)       # private, as companion makes it
    (folder / "config.toml").write_text(f'{key} = "nowhere"\n')
    env = {**os.environ, "COMPANION_CONFIG_DIR": str(folder)}
    result = run_companion(command, "--no-keys", "--music", "none", env=env, timeout=30)
    assert result.returncode == 2, result.stderr
    expected = f"Error: settings file {folder / 'config.toml'}: {key} 'nowhere' is not an output device; choose"
    assert result.stderr.startswith(expected), result.stderr
