"""One variable moves each of companion's own folders, for every module that stores something."""

from __future__ import annotations

from companion.media import library
from companion.narration import voicing
from companion.plan import settings


def test_cache_dir_env_moves_the_music_cache_and_the_speech_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))
    assert library.cache_path().parent == tmp_path / "cache"
    assert voicing.cache_dir() == tmp_path / "cache" / "voice", "synthesized speech ignores $COMPANION_CACHE_DIR"


def test_config_dir_env_moves_the_settings_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(tmp_path / "conf"))
    assert settings.config_path() == tmp_path / "conf" / "config.toml"


def test_data_dir_env_moves_the_practice_journal(tmp_path, monkeypatch):
    from companion.journal import store

    monkeypatch.setenv("COMPANION_DATA_DIR", str(tmp_path / "data"))
    assert store.journal_path() == tmp_path / "data" / "journal.sqlite3"


# --- a loose folder left by an older companion (before 0700) is tightened on first use ---------------------

import fnmatch  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import stat  # noqa: E402

import pytest  # noqa: E402

from companion import folders  # noqa: E402


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def first_use(monkeypatch):
    """Each test is a fresh process as far as "first use" goes."""
    monkeypatch.setattr(folders, "_checked", set())


def loose_cache(root):
    """~/.cache/companion as an older companion left it: 0755 folders, 0644 files."""
    (root / "voice").mkdir(parents=True)
    (root / "library.sqlite").write_bytes(b"cache")
    (root / "voice" / "piper-abc.wav").write_bytes(b"RIFF")
    for path, perms in ((root, 0o755), (root / "voice", 0o755), (root / "library.sqlite", 0o644),
                        (root / "voice" / "piper-abc.wav", 0o644)):
        os.chmod(path, perms)
    return root


def test_a_loose_cache_folder_is_made_private_once_with_one_warning(tmp_path, monkeypatch, first_use, caplog):
    root = loose_cache(tmp_path / "cache")
    outside = tmp_path / "outside.txt"
    outside.write_text("someone else's")
    os.chmod(outside, 0o644)
    (root / "voice" / "link.wav").symlink_to(outside)
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(root))
    with caplog.at_level(logging.WARNING, logger="companion"):
        assert folders.cache_dir() == root
        folders.cache_dir()
    assert (mode(root), mode(root / "voice")) == (0o700, 0o700), "folders readable by other users"
    assert mode(root / "library.sqlite") == 0o600 and mode(root / "voice" / "piper-abc.wav") == 0o600
    assert mode(outside) == 0o644, "a symlink was followed out of the cache folder"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "made it private" in warnings[0], warnings


@pytest.mark.parametrize("kind", ["already private", "holds a file not companion's", "is a symlink"])
def test_a_folder_that_is_private_or_not_companions_is_left_alone_and_silent(kind, tmp_path, monkeypatch,
                                                                            first_use, caplog):
    root = loose_cache(tmp_path / "cache")
    given = root
    if kind == "already private":
        os.chmod(root, 0o700)
    elif kind == "holds a file not companion's":
        (root / "notes.txt").write_text("the user's own")
    else:
        given = tmp_path / "link"
        given.symlink_to(root)
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(given))
    with caplog.at_level(logging.WARNING, logger="companion"):
        folders.cache_dir()
    assert mode(root / "library.sqlite") == 0o644 and mode(root / "voice") == 0o755
    assert mode(root) == (0o700 if kind == "already private" else 0o755)
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_the_names_companion_writes_are_the_ones_it_counts_as_its_own():
    from companion import datadir
    from companion.journal import store
    from companion.media import track_cache

    written = {folders.CACHE_ENV: [track_cache.CACHE_FILE, f"{track_cache.CACHE_FILE}-wal",
                                   folders.voice_cache_dir().name],
               folders.CONFIG_ENV: [settings.CONFIG_FILE],
               folders.DATA_ENV: [store.JOURNAL_FILE, f"{store.JOURNAL_FILE}-wal",
                                  datadir.installed_routines_dir().name]}
    for env, names in written.items():
        for name in names:
            assert any(fnmatch.fnmatchcase(name, own) for own in folders.OWN_ENTRIES[env]), (env, name)


def test_config_init_writes_a_private_folder_and_file(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from companion.cli import main

    old = os.umask(0o022)
    try:
        monkeypatch.setenv("COMPANION_CONFIG_DIR", str(tmp_path / "conf"))
        result = CliRunner().invoke(main, ["config", "--init"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert (mode(tmp_path / "conf"), mode(tmp_path / "conf" / "config.toml")) == (0o700, 0o600)
