"""Packs: ``companion pack`` -> ``routines install`` -> listed and playable by name -> ``routines remove``;
and a corpus of hostile packs, each rejected with one line, exit 2, and nothing written."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.clikit import private_dirs, run  # noqa: F401 - private_dirs is an autouse fixture
from companion.packs import install as install_module

RATE_HZ = 48_000


def tone_flac(path: Path, seconds: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    sf.write(str(path), 0.1 * np.sin(2 * np.pi * 330 * t) * np.hanning(len(t)), RATE_HZ, format="FLAC")
    return path


@pytest.fixture
def routine(tmp_path) -> Path:
    """The template routine with its first line recorded (a tone stands in for the voice)."""
    path = tmp_path / "mine.toml"
    assert run("routines", "new", str(path)).exit_code == 0
    tone_flac(tmp_path / "clips" / "settle-1.flac")
    text = path.read_text(encoding="utf-8").replace(
        '"Sit or lie comfortably. Let your shoulders drop.",',
        '{ text = "Sit or lie comfortably. Let your shoulders drop.", clip = "clips/settle-1.flac" },  # mine')
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def pack(routine, tmp_path) -> Path:
    out = tmp_path / "evening-neck.companion.zip"
    result = run("pack", str(routine), "-o", str(out), "--author", "Dr. Ada Example")
    assert result.exit_code == 0, result.output
    return out


def data_tree(tmp_path: Path) -> list[str]:
    root = tmp_path / "data"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_pack_holds_routine_clips_and_a_manifest_with_matching_hashes(pack):
    with zipfile.ZipFile(pack) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        assert names == {"routine.toml", "clips/settle-1.flac", "manifest.json"}
        assert manifest["format"] == "companion-pack" and manifest["format_version"] == 1
        assert manifest["name"] == "evening-neck" and manifest["author"] == "Dr. Ada Example"
        assert manifest["title"] == "My routine" and manifest["created"].endswith("Z")
        for name, digest in manifest["files"].items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
        assert "# mine" in archive.read("routine.toml").decode(), "the routine's comments travel with it"


def test_install_lists_it_with_its_author_shows_it_by_name_and_remove_deletes_it(pack, tmp_path):
    result = run("routines", "install", str(pack))
    assert result.exit_code == 0, result.output
    assert "Installed 'My routine' by Dr. Ada Example as evening-neck" in result.output
    listing = run("routines").output
    assert "Installed routines:" in listing
    assert "evening-neck   5:00   4 steps  My routine (installed, by Dr. Ada Example)" in listing
    shown = run("routines", "show", "evening-neck")
    assert shown.exit_code == 0 and shown.output.startswith("My routine: 5:00")
    folder = tmp_path / "data" / "routines" / "evening-neck"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "clips" / "settle-1.flac").stat().st_mode) == 0o600
    assert run("routines", "remove", "evening-neck").exit_code == 0
    assert not folder.exists() and "evening-neck" not in run("routines").output
    assert run("routines", "remove", "evening-neck").exit_code == 2


def test_an_existing_name_is_replaced_only_when_asked(pack, tmp_path):
    assert run("routines", "install", str(pack)).exit_code == 0
    again = run("routines", "install", str(pack))
    assert again.exit_code == 2 and "--replace" in again.output
    assert run("routines", "install", str(pack), "--replace").output.startswith("Replaced")
    assert [p for p in (tmp_path / "data" / "routines").iterdir()] == [tmp_path / "data" / "routines" / "evening-neck"]


def test_pack_never_overwrites_without_force_and_refuses_a_builtin(routine, pack):
    before = pack.read_bytes()
    result = run("pack", str(routine), "-o", str(pack))
    assert result.exit_code == 2 and "already exists" in result.output and pack.read_bytes() == before
    assert run("pack", "quick-reset", "-o", str(pack.with_name("x.companion.zip"))).exit_code == 2


def test_a_folder_installs_like_a_zip(pack, tmp_path):
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(pack) as archive:
        archive.extractall(folder)
    result = run("routines", "install", str(folder))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "routines" / "evening-neck" / "routine.toml").is_file()


# --- the hostile corpus ------------------------------------------------------------------------------------

def contents(pack: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(pack: Path, out: Path, entries: list[tuple[str, bytes]], *, rehash: bool = True,
            symlink: str | None = None, compress: int = zipfile.ZIP_STORED) -> Path:
    """A pack with ``entries`` (plus a manifest whose file list and hashes match them, unless not
    ``rehash``); ``symlink`` names an entry written as a symbolic link."""
    manifest = json.loads(contents(pack)["manifest.json"])
    if rehash:
        manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in entries
                             if name != "manifest.json"}
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = compress
            if name == symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
        archive.writestr("manifest.json", json.dumps(manifest))
    return out


def good_entries(pack: Path) -> list[tuple[str, bytes]]:
    return [(n, d) for n, d in contents(pack).items() if n != "manifest.json"]


def hostile(name: str, pack: Path, out: Path, monkeypatch) -> tuple[Path, str]:
    """Build hostile pack ``name``; return it and the words its one error line must hold."""
    good = good_entries(pack)
    clip = dict(good)["clips/settle-1.flac"]
    if name == "traversal":
        return rewrite(pack, out, good + [("../evil.flac", clip)]), "path traversal"
    if name == "traversal-inside":
        return rewrite(pack, out, good + [("clips/../../evil.flac", clip)]), "path traversal"
    if name == "absolute":
        return rewrite(pack, out, good + [("/tmp/evil.flac", clip)]), "absolute path"
    if name == "symlink":
        return rewrite(pack, out, good + [("clips/link.flac", b"/etc/passwd")], symlink="clips/link.flac"), \
            "symbolic link"
    if name == "wrong-type":
        return rewrite(pack, out, good + [("clips/run.sh", b"#!/bin/sh\nrm -rf ~\n")]), "not an allowed file type"
    if name == "nested-folder":
        return rewrite(pack, out, good + [("clips/deep/x.flac", clip)]), "not an allowed file type"
    if name == "duplicate":
        return rewrite(pack, out, good + [("clips/SETTLE-1.flac", clip)]), "twice"
    if name == "too-many-files":
        return rewrite(pack, out, good + [(f"clips/c{i}.flac", b"x") for i in range(300)]), "at most 300"
    if name == "oversize":
        monkeypatch.setattr(install_module, "MAX_TOTAL_BYTES", len(clip) // 2)
        return rewrite(pack, out, good), "a pack may hold at most"
    if name == "zip-bomb":
        bomb = b"\0" * (20 * 1024 * 1024)
        return rewrite(pack, out, good + [("clips/bomb.flac", bomb)], compress=zipfile.ZIP_DEFLATED), "zip bomb"
    if name == "lying-size":
        path = rewrite(pack, out, good + [("clips/big.flac", b"\1" * 4_000_000)], compress=zipfile.ZIP_DEFLATED)
        raw = bytearray(path.read_bytes())
        declared = (4_000_000).to_bytes(4, "little")
        for at in [i for i in range(len(raw)) if raw[i: i + 4] == declared]:   # local header and central directory
            raw[at: at + 4] = (1000).to_bytes(4, "little")
        path.write_bytes(bytes(raw))
        return path, "big.flac"
    if name == "bad-hash":
        changed = [(n, d if n != "clips/settle-1.flac" else d[:-1] + bytes([d[-1] ^ 1])) for n, d in good]
        return rewrite(pack, out, changed, rehash=False), "does not match its sha256"
    if name == "unlisted-file":
        path = rewrite(pack, out, good, rehash=True)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("clips/extra.flac", clip)
        return path, "not in its manifest"
    if name == "invalid-routine":
        changed = [(n, d if n != "routine.toml" else d.replace(b"hold = 0\n", b"hold = -5\n")) for n, d in good]
        return rewrite(pack, out, changed), "the routine does not validate"
    if name == "clip-outside":
        target = out.parent / "secret.flac"
        tone_flac(target)
        changed = [(n, d if n != "routine.toml" else d.replace(b"clips/settle-1.flac", str(target).encode()))
                   for n, d in good]
        return rewrite(pack, out, changed), "clip outside the pack"
    if name == "not-audio-clip":
        changed = [(n, d if n != "clips/settle-1.flac" else b"MZ not audio") for n, d in good]
        return rewrite(pack, out, changed), "not readable audio"
    if name == "not-a-zip":
        out.write_bytes(b"PK\3\4 this is not really a zip")
        return out, "not a zip file"
    if name == "builtin-name":
        path = rewrite(pack, out, good)
        data = contents(path)
        manifest = json.loads(data["manifest.json"])
        manifest["name"] = "quick-reset"
        with zipfile.ZipFile(path, "w") as archive:
            for n, d in good:
                archive.writestr(n, d)
            archive.writestr("manifest.json", json.dumps(manifest))
        return path, "like a built-in routine"
    raise AssertionError(name)


CORPUS = ["traversal", "traversal-inside", "absolute", "symlink", "wrong-type", "nested-folder", "duplicate",
          "too-many-files", "oversize", "zip-bomb", "lying-size", "bad-hash", "unlisted-file",
          "invalid-routine", "clip-outside", "not-audio-clip", "not-a-zip", "builtin-name"]


@pytest.mark.parametrize("name", CORPUS)
def test_a_hostile_pack_is_rejected_with_one_line_exit_2_and_nothing_written(name, pack, tmp_path, monkeypatch):
    bad, words = hostile(name, pack, tmp_path / f"{name}.companion.zip", monkeypatch)
    before = sorted(os.listdir(tmp_path))
    result = run("routines", "install", str(bad))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], result.output
    assert data_tree(tmp_path) == [], f"{name}: left {data_tree(tmp_path)}"
    assert sorted(os.listdir(tmp_path)) == before
    assert not (tmp_path / "evil.flac").exists() and not Path("/tmp/evil.flac").exists()


def test_a_folder_with_a_symbolic_link_is_rejected(pack, tmp_path):
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(pack) as archive:
        archive.extractall(folder)
    (folder / "clips" / "settle-1.flac").unlink()
    (folder / "clips" / "settle-1.flac").symlink_to(tmp_path / "clips" / "settle-1.flac")
    result = run("routines", "install", str(folder))
    assert result.exit_code == 2 and "symbolic link" in result.output and data_tree(tmp_path) == []


def test_with_music_carries_the_routines_own_music_and_without_it_plays_the_builtin(routine, tmp_path):
    music = tmp_path / "my-music"
    t = np.arange(RATE_HZ * 2) / RATE_HZ
    music.mkdir()
    sf.write(str(music / "rain.ogg"), 0.05 * np.sin(2 * np.pi * 220 * t), RATE_HZ, format="OGG")
    text = routine.read_text(encoding="utf-8").replace('music = "builtin"', 'music = "my-music"')
    routine.write_text(text, encoding="utf-8")
    with_music = tmp_path / "with.companion.zip"
    assert run("pack", str(routine), "-o", str(with_music), "--with-music").exit_code == 0
    packed = contents(with_music)
    assert "music/rain.ogg" in packed and b'music = "music"' in packed["routine.toml"]
    assert run("routines", "install", str(with_music)).exit_code == 0
    from companion.plan.routine import load_routine

    installed = load_routine("with")
    assert installed.options.music == (str(tmp_path / "data" / "routines" / "with" / "music"),)
    without = tmp_path / "without.companion.zip"
    result = run("pack", str(routine), "-o", str(without))
    assert result.exit_code == 0 and "--with-music" in result.output
    packed = contents(without)
    assert not any(n.startswith("music/") for n in packed) and b'music = "builtin"' in packed["routine.toml"]
