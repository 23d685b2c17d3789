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
