"""`companion render` end to end: real files, real ffmpeg, the CLI's exit codes and messages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from tests import sessionkit as kit
from tests import measure
from tests.measure import decode_with_ffmpeg

RATE = kit.RATE


def companion(*args: str, env_extra: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True,
                          env=env, timeout=300, **kwargs)


@pytest.fixture
def routine(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))
    kit.make_material(tmp_path)
    return kit.three_steps(tmp_path, "v")


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg"])
def test_each_format_is_written_with_step_chapters(tmp_path, routine, fmt):
    out = tmp_path / f"session.{fmt}"
    result = companion("render", str(routine), "-o", str(out), "--music", str(tmp_path / "music"))
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stdout
    audio = decode_with_ffmpeg(out, RATE)
    wav_reference = None
    if fmt == "wav":
        wav_reference, rate = soundfile.read(str(out), dtype="float32")
        assert rate == RATE and soundfile.info(str(out)).subtype == "PCM_16"
        cue = (tmp_path / "session.cue").read_text()
        assert cue.count("TRACK") == 3 and 'TITLE "Two"' in cue
    expected_s = len(audio) / RATE
    assert 40 < expected_s < 60
    assert [p for p in tmp_path.iterdir() if ".partial" in p.name] == []
    if fmt == "mp3":
        from mutagen.id3 import ID3

        chapters = ID3(str(out)).getall("CHAP")
        assert [c.sub_frames["TIT2"].text[0] for c in chapters] == ["One", "Two", "Three"]
        assert chapters[1].start_time > chapters[0].start_time
    elif fmt in ("ogg", "flac"):
        from mutagen import File

        tags = File(str(out))
        assert tags["CHAPTER002NAME"] == ["Two"] and tags["CHAPTER001"][0].startswith("00:00:0")
    if wav_reference is not None:
        assert np.abs(wav_reference).max() < 10 ** (-1 / 20)


def test_renders_are_the_same_for_the_same_seed(tmp_path, routine):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for out in (a, b):
        assert companion("render", str(routine), "-o", str(out), "--music", str(tmp_path / "noise"),
                         "--seed", "7").returncode == 0
    assert a.read_bytes()[44:] == b.read_bytes()[44:]


def test_a_bad_music_file_in_a_folder_is_skipped_with_one_warning(tmp_path, routine):
    (tmp_path / "noise" / "broken.mp3").write_text("this is not audio")
    out = tmp_path / "s.wav"
    result = companion("render", str(routine), "-o", str(out), "--music", str(tmp_path / "noise"), "--seed", "1")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "broken.mp3" in line]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: "), result.stderr
    assert out.exists()


def test_minutes_fit_the_session_to_the_length(tmp_path, routine):
    out = tmp_path / "s.wav"
    result = companion("render", str(routine), "-o", str(out), "--minutes", "1", "--music", str(tmp_path / "music"))
    assert result.returncode == 0, result.stderr
    assert soundfile.info(str(out)).duration == pytest.approx(60.0, abs=2.0)


def test_an_impossible_length_says_what_is_possible(tmp_path, routine):
    result = companion("render", str(routine), "-o", str(tmp_path / "s.wav"), "--minutes", "10")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: cannot fit 'Test routine' into 10 minutes")
    assert "choose --minutes between" in result.stderr and len(result.stderr.splitlines()) == 1


def test_the_lengths_offered_for_a_routine_are_lengths_it_accepts():
    """The hint's numbers are rounded inwards: '--minutes LOW' and '--minutes HIGH' both fit (quick-reset's
    shortest once read 3.8 while 3.8 was refused)."""
    import re

    from click.testing import CliRunner

    from companion.cli import main

    refused = CliRunner().invoke(main, ["routines", "show", "quick-reset", "--minutes", "1"])
    low, high = re.search(r"between ([\d.]+) and ([\d.]+)", refused.output).groups()
    for minutes in (low, high):
        result = CliRunner().invoke(main, ["routines", "show", "quick-reset", "--minutes", minutes])
        assert result.exit_code == 0, (minutes, result.output)


@pytest.mark.parametrize("args, expected", [
    (["-o", "out.xyz"], "unknown format '.xyz'"),
    (["-o", "missing-folder/out.wav"], "does not exist"),
])
def test_bad_output_paths_are_refused_before_any_work(tmp_path, routine, args, expected):
    result = companion("render", str(routine), *args, cwd=tmp_path)
    assert result.returncode == 2 and expected in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_invalid_routine_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[steps]]\nid = "a"\ntitle = "A"\nhold = 0\n')
    result = companion("render", str(bad), "-o", str(tmp_path / "o.wav"))
    assert result.returncode == 2
    assert result.stderr == f"Error: {bad}: step 1 ('a'): 'hold' is 0; allowed: more than 0 up to 4 hours (4:00:00)\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_render_leaves_no_file(tmp_path, routine, sig):
    out = tmp_path / "long.mp3"
    long = kit.routine_file(tmp_path, [{"id": "long", "clips": ["clips/v0.wav"], "hold": 900}])
    proc = subprocess.Popen([sys.executable, "-m", "companion", "render", str(long), "-o", str(out),
                             "--music", str(tmp_path / "noise")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(".partial" in p.name for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial" in p.name or p.suffix == ".cue"] == []


def test_settings_fill_in_what_the_command_line_leaves_out(tmp_path, routine):
    config_dir = tmp_path / "config"
    config_dir.mkdir(mode=0o700)      # private, as companion makes it
    (config_dir / "config.toml").write_text(f'music = ["{tmp_path / "noise"}"]\nloudness_lufs = -30\n')
    env = {"COMPANION_CONFIG_DIR": str(config_dir)}
    quiet, loud = tmp_path / "quiet.wav", tmp_path / "loud.wav"
    assert companion("render", str(routine), "-o", str(quiet), env_extra=env).returncode == 0
    result = companion("render", str(routine), "-o", str(loud), "--loudness", "-18", env_extra=env)
    assert result.returncode == 0, result.stderr
    from_settings = measure.ffmpeg_integrated_lufs(quiet)
    from_option = measure.ffmpeg_integrated_lufs(loud)
    assert from_settings == pytest.approx(-30.0, abs=1.0), "the settings file's loudness applies"
    assert from_option == pytest.approx(-18.0, abs=1.0), "the command line wins over the settings file"


def test_play_with_an_unknown_routine_is_a_clean_error_not_a_crash():
    # play scans PortAudio's devices on a thread while the routine loads; a bad routine must still end in
    # one line and exit 2 (it once crashed inside PortAudio at interpreter exit: exit 139).
    for _ in range(3):
        result = companion("play", "no-such-routine", "--no-keys")
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("Error: no routine named 'no-such-routine'"), result.stderr
        assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg"])
def test_ffprobe_reads_title_artist_and_the_chapters_in_step_order_without_warnings(tmp_path, routine, fmt):
    """A second parser (ffprobe): tags and chapters as written, in order, and nothing it complains about."""
    import json

    titles_in_order = ["A long first step of the routine", "Two", "The third"]   # mutagen sorted ID3 frames by size
    routine = kit.routine_file(tmp_path, [
        {"id": "one", "title": titles_in_order[0], "clips": ["clips/v0.wav"], "hold": 3},
        {"id": "two", "title": titles_in_order[1], "clips": ["clips/v1.wav"], "hold": 3},
        {"id": "three", "title": titles_in_order[2], "clips": ["clips/v2.wav"], "hold": 3},
    ], session={"fade_in_s": 5, "fade_out_s": 15})
    out = tmp_path / f"tagged.{fmt}"
    result = companion("render", str(routine), "-o", str(out), "--music", "none")
    assert result.returncode == 0, result.stderr
    probe = subprocess.run(["ffprobe", "-v", "warning", "-show_chapters", "-show_format", "-show_streams",
                            "-of", "json", str(out)], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and probe.stderr.strip() == "", probe.stderr
    chatty = subprocess.run(["ffprobe", "-v", "info", str(out)], capture_output=True, text=True, timeout=60)
    assert "remain" not in chatty.stderr, chatty.stderr       # "N bytes of comment header remain" (ogg)
    info = json.loads(probe.stdout)
    tags = {k.lower(): v for k, v in {**info["format"].get("tags", {}), **info["streams"][0].get("tags", {})}.items()}
    assert tags.get("title") == "Test routine" and tags.get("artist") == "companion", tags
    if fmt != "wav":                                     # a WAV's chapters are its .cue sheet
        titles = [c["tags"]["title"] for c in info["chapters"]]
        starts = [float(c["start_time"]) for c in info["chapters"]]
        assert titles == titles_in_order and starts == sorted(starts), info["chapters"]


def test_metadata_escapes_what_would_start_a_new_key():
    """ffmpeg itself reads back our ffmetadata: a title with '=', ';', '#', '\\' and a newline stays one title."""
    from companion.output.export import Chapter, ffmetadata

    tricky = "a=b;c#d\\e\nf"
    text = ffmetadata(tricky, (Chapter(0.0, tricky), Chapter(1.0, "Two")), 2.0)
    echoed = subprocess.run(["ffmpeg", "-v", "error", "-f", "ffmetadata", "-i", "-", "-f", "ffmetadata", "-"],
                            input=text, capture_output=True, text=True, timeout=60)
    assert echoed.returncode == 0, echoed.stderr
    assert echoed.stdout.count("[CHAPTER]") == 2
    assert echoed.stdout.count("title=a\\=b\\;c\\#d\\\\e\\\nf") == 2, echoed.stdout


def test_a_voice_only_session_comes_out_at_the_loudness_asked_for(tmp_path):
    """--music none: the speech itself is what BS.1770 measures (the silences are gated out), so the voice
    is placed at the target, not where it would sit over a music bed (that came out 2.4 LU loud)."""
    out = tmp_path / "voice.wav"
    result = companion("render", "quick-reset", "--music", "none", "--minutes", "4", "-o", str(out),   # near its shortest
                       env_extra={"COMPANION_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    loudness = measure.ffmpeg_integrated_lufs(out)
    assert abs(loudness + 20.0) <= 1.0, f"{loudness:.2f} LUFS (asked -20)"
