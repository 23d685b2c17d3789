"""Class 1 of issue 9, no data loss: `-o` never destroys a session's input, never replaces a file unasked.

The corpus is generated here: every kind of input a session reads (a music file given by name, a music
file found in a folder, a recorded clip, the routine, the settings file, the cache), named by `-o`
directly (where its extension allows), through a symlink and through a hard link, in every output
format, and through the `.cue` sheet a WAV render writes beside itself. Each must be refused before any
work with exit 2 and one line, and the input must keep its bytes. The refusals run in-process through
click's runner (the same command code, nothing built); a few end-to-end runs use a real process.
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from companion.cli import main
from companion.media import track_cache
from tests import sessionkit as kit

FORMATS = ("wav", "flac", "mp3", "ogg")
KINDS = ("music-file", "music-in-folder", "clip", "routine", "settings", "cache")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> Path:
    """Music, clips, a routine, a settings file and a cache folder, made once for this module."""
    folder = tmp_path_factory.mktemp("inputs")
    kit.make_material(folder)
    (folder / "config").mkdir(mode=0o700)          # private, as companion makes them
    (folder / "config" / "config.toml").write_text("volume_db = -3\n")
    (folder / "cache").mkdir(mode=0o700)
    with sqlite3.connect(folder / "cache" / "library.sqlite") as cache:    # a real (empty) cache
        cache.execute(track_cache._SCHEMA)
    return folder


@pytest.fixture
def world(material, tmp_path, monkeypatch):
    """The shared material, with this test's own output folder (``material/out-<n>``, cleared after)."""
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(material / "cache"))
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(material / "config"))
    yield material
    import shutil

    for leftover in ("out", "mine", "renders", "home"):
        shutil.rmtree(material / leftover, ignore_errors=True)
    for extra in material.glob("*.wav"):
        extra.unlink()
    for extra in material.glob("old.*"):
        extra.unlink()
    (material / "noise" / "c.wav").unlink(missing_ok=True)
    for extra in (material / "noise").glob("c.*"):
        extra.unlink()


def victim_of(world: Path, kind: str, fmt: str) -> tuple[Path, list[str]]:
    """The input of ``kind`` (with ``fmt``'s extension where it is audio) and the arguments that make it one."""
    routine = kit.three_steps(world)
    if kind == "music-file":
        song = kit.write(world / "mine" / f"song.{fmt}" if fmt != "mp3" else world / "mine" / "song.wav",
                         kit.tone(12.0, 330.0))
        return song, [str(routine), "--music", str(song)]
    if kind == "music-in-folder":
        song = kit.write(world / "noise" / f"c.{fmt}" if fmt != "mp3" else world / "noise" / "c.wav",
                         kit.noise(12.0))
        return song, [str(routine), "--music", str(world / "noise")]
    if kind == "clip":
        return world / "clips" / "v1.wav", [str(routine), "--music", "none"]
    if kind == "routine":
        return routine, [str(routine), "--music", "none"]
    if kind == "settings":
        return world / "config" / "config.toml", [str(routine), "--music", "none"]
    return world / "cache" / "library.sqlite", [str(routine), "--music", "none"]


def name_it(world: Path, victim: Path, how: str, fmt: str) -> Path:
    if how == "direct":
        return victim
    out = world / "out" / f"session.{fmt}"
    out.parent.mkdir(exist_ok=True)
    (os.symlink if how == "symlink" else os.link)(victim, out)
    return out


CASES = [(kind, how, fmt) for kind in KINDS for how in ("direct", "symlink", "hardlink") for fmt in FORMATS
         if how != "direct" or (kind in ("music-file", "music-in-folder") and fmt != "mp3")
         or (kind == "clip" and fmt == "wav")]


@pytest.mark.parametrize("kind, how, fmt", CASES)
def test_an_output_that_names_an_input_is_refused_and_the_input_kept(world, kind, how, fmt):
    victim, args = victim_of(world, kind, fmt)
    before = digest(victim)
    out = name_it(world, victim, how, fmt)
    result = CliRunner().invoke(main, ["render", *args, "-o", str(out), "--force"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: refusing to write '{out}'") and result.output.count("\n") == 1, \
        result.output
    assert digest(victim) == before, "the input was changed"
    assert not [p for p in victim.parent.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize("kind", ["routine", "clip", "settings"])
def test_the_cue_sheet_beside_a_wav_never_replaces_an_input(world, kind):
    victim, args = victim_of(world, kind, "wav")
    folder = world if kind == "routine" else world / "out"   # a routine's clips are found beside it
    folder.mkdir(exist_ok=True)
    if kind == "routine":                         # a routine file whose name ends in .cue
        (folder / "session.cue").write_text(victim.read_text())
        victim, args = folder / "session.cue", [str(folder / "session.cue"), "--music", "none"]
    else:
        os.symlink(victim, folder / "session.cue")
    before = digest(victim)
    result = CliRunner().invoke(main, ["render", *args, "-o", str(folder / "session.wav"), "-f"])
    assert result.exit_code == 2 and "session.cue (the cue sheet written beside it)" in result.output, \
        result.output
    assert digest(victim) == before and not (folder / "session.wav").exists()
    (world / "session.cue").unlink(missing_ok=True)


def test_ambient_refuses_to_render_over_its_music(world):
    song = world / "noise" / "a.wav"
    before = digest(song)
    result = CliRunner().invoke(main, ["ambient", "--minutes", "0.25", "--music", str(world / "noise"),
                                       "-o", str(song), "--force"])
    assert result.exit_code == 2 and result.output.startswith(f"Error: refusing to write '{song}'"), \
        result.output
    assert digest(song) == before


@pytest.mark.parametrize("command", ["render", "ambient"])
def test_an_existing_file_is_kept_without_force_and_replaced_with_it(world, command):
    out = world / "old.ogg"
    out.write_bytes(b"last week's session")
    args = ([command, str(kit.three_steps(world)), "--music", "none"] if command == "render"
            else [command, "--minutes", "0.25", "--music", str(world / "noise")])
    refused = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert refused.exit_code == 2 and "already exists; not replaced" in refused.output, refused.output
    assert "--force" in refused.output and refused.output.count("\n") == 1
    assert out.read_bytes() == b"last week's session"
    replaced = CliRunner().invoke(main, [*args, "-o", str(out), "-f"])
    assert replaced.exit_code == 0, replaced.output
    assert out.read_bytes()[:4] == b"OggS"


@pytest.mark.parametrize("answer, replaced", [("n", False), ("y", True)])
def test_on_a_terminal_the_person_is_asked(world, answer, replaced):
    out = world / "old.wav"
    out.write_bytes(b"keep me")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "companion", "render", str(kit.three_steps(world)),
                             "--music", "none", "-o", str(out)], stdin=follower, stderr=follower,
                            stdout=subprocess.PIPE)
    os.close(follower)
    said = b""
    deadline = time.monotonic() + 30
    while b"Replace?" not in said and time.monotonic() < deadline:
        if select.select([leader], [], [], 0.5)[0]:
            said += os.read(leader, 1024)   # the question goes to the terminal (stderr)
    assert b"already exists. Replace? [y/N]" in said, said
    os.write(leader, f"{answer}\n".encode())
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:   # keep reading: a full pty would block it
            if select.select([leader], [], [], 0.2)[0]:
                try:
                    said += os.read(leader, 4096)
                except OSError:
                    break
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
    told = said.decode(errors="replace")[-800:] + proc.stdout.read().decode(errors="replace")
    assert proc.returncode == (0 if replaced else 2), told
    assert (out.read_bytes() != b"keep me") is replaced, told


def test_a_killed_renders_temporary_files_are_swept_by_the_next_render(world):
    folder = world / "renders"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [folder / f".session.mp3.partial-{dead.pid}", folder / f".other.wav.partial-{dead.pid}",
             folder / f".other.cue.partial-{dead.pid}"]
    alive = folder / f".session.mp3.partial-{os.getppid()}"      # a render that still runs: not ours to take
    unrelated = [folder / ".notes.partial", folder / "session.partial-1", folder / f"x.wav.partial-{dead.pid}"]
    for path in [*stale, alive, *unrelated]:
        path.write_bytes(b"x" * 10)
    result = CliRunner().invoke(main, ["render", str(kit.three_steps(world)), "--music", "none",
                                       "-o", str(folder / "new.wav")])
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale)
    assert alive.exists() and all(p.exists() for p in unrelated)


def test_play_without_a_device_renders_beside_the_old_file_and_sweeps(world, monkeypatch):
    home = world / "home"
    (home / "Music").mkdir(parents=True)
    old = home / "Music" / "companion-session.mp3"
    old.write_bytes(b"yesterday")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = home / "Music" / f".companion-session-2.mp3.partial-{dead.pid}"
    stale.write_bytes(b"x")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE", "ALSA", "XDG_"))}
    env.update(HOME=str(home), AUDIODEV="none")
    result = subprocess.run([sys.executable, "-m", "companion", "play", str(kit.three_steps(world)),
                             "--music", "none", "--no-keys", "--device", "no-such-device-anywhere"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert old.read_bytes() == b"yesterday" and not stale.exists()
    assert (home / "Music" / "companion-session-2.mp3").stat().st_size > 10_000, result.stderr


def test_looking_for_inputs_does_not_repeat_the_sessions_warnings(world, tmp_path):
    folder = tmp_path / "music"
    kit.write(folder / "tone.wav", kit.tone(12.0, 330.0))
    (folder / "gone.wav").symlink_to("nowhere.wav")      # the session says so once; the -o check stays quiet
    result = subprocess.run([sys.executable, "-m", "companion", "render", str(kit.three_steps(world)),
                             "--music", str(folder), "-o", str(tmp_path / "s.ogg")],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "gone.wav" in line] == \
        [f"Warning: skipping {folder / 'gone.wav'}: No such file or directory"], result.stderr
