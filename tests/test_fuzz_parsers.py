"""Fuzz (issue 9): whatever a routine or settings file holds, `routines check` and `config` end in exit 0 or 2,
with at most three lines of output and never a traceback.

Hypothesis builds TOML documents from the real keys and from junk (NaN, ±inf, huge integers, control
characters, wrong types, deep nesting), plus arbitrary text and bytes; examples are bounded so the file
runs in a few seconds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.cli import main

ROUTINE_KEYS = ["name", "description", "session", "steps"]
SESSION_KEYS = ["music", "minutes", "duck_db", "voice_db", "loudness_lufs", "crossfade_s", "fade_in_s",
                "fade_out_s", "line_gap_s", "chimes"]
STEP_KEYS = ["id", "title", "do", "lines", "hold", "chime_start", "chime_end", "breath"]
SETTINGS_KEYS = ["music", "device", "cue_device", "volume_db", "balance_db", "loudness_lufs", "order", "voice"]
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
numbers = st.one_of(st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
                    st.integers(min_value=-(10 ** 400), max_value=10 ** 400),   # tomllib reads any size
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, -1, 1e9, -1e9, 1e308, 5e-324, float("nan"), float("inf"), -float("inf")]))
scalars = st.one_of(numbers, texts, st.booleans(), st.sampled_from(["1:30", "4:00:01", "builtin", "none", "soft"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(texts, inner, max_size=3)), max_leaves=8)


def keyed(keys: list[str], value_strategy) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.one_of(st.sampled_from(keys), texts), value_strategy, max_size=len(keys))


routines = st.fixed_dictionaries({}, optional={
    "name": st.one_of(texts, values), "description": st.one_of(texts, values),
    "session": st.one_of(keyed(SESSION_KEYS, st.one_of(scalars, values)), values),
    "steps": st.one_of(st.lists(keyed(STEP_KEYS, st.one_of(scalars, values)), max_size=3), values),
})
settings_files = keyed(SETTINGS_KEYS, st.one_of(scalars, values))


def toml_value(value) -> str:
    """A TOML literal for ``value`` (inline arrays and tables; strings with every character escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)   # JSON string escapes (\\n, \\u001b, ...) are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict) -> str:
    return "".join(f"{json.dumps(key)} = {toml_value(value)}\n" for key, value in data.items())


# Nesting deeper than any parser's recursion: appended to a generated document.
deep_nesting = st.integers(min_value=1, max_value=4000).map(lambda depth: f'deep = {"[" * depth}{"]" * depth}\n')


def assert_ends_cleanly(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    assert len(result.output.splitlines()) <= 3 or result.exit_code == 0, result.output


@pytest.fixture
def folders(tmp_path_factory, monkeypatch) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(root / "config"))
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(root / "cache"))
    (root / "config").mkdir(mode=0o700)      # private, as companion makes it
    return root


@FUZZ
@given(document=st.one_of(routines.map(toml_document), texts, st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
                          st.tuples(routines.map(toml_document), deep_nesting).map("".join)))
def test_any_routine_file_is_checked_or_refused_in_one_line(folders, document):
    path = folders / "routine.toml"
    path.write_text(document, encoding="utf-8")
    result = CliRunner().invoke(main, ["routines", "check", str(path)])
    assert_ends_cleanly(result)
    if result.exit_code == 2:
        assert len(result.output.splitlines()) == 1, result.output


@FUZZ
@given(document=st.one_of(settings_files.map(toml_document), texts,
                          st.tuples(settings_files.map(toml_document), deep_nesting).map("".join)))
def test_any_settings_file_is_shown_or_refused_in_one_line(folders, document):
    (folders / "config" / "config.toml").write_text(document, encoding="utf-8")
    result = CliRunner().invoke(main, ["config"])
    assert_ends_cleanly(result)
    if result.exit_code == 2:
        assert len(result.output.splitlines()) == 1, result.output
