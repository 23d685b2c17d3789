"""The journal file itself, with real SQLite: privacy, migration, crashes and damaged or refused files.

Each test gets its own journal path. Faults are made for real: a v1 file written with the v1 schema, a
file of random bytes, a second connection holding the write lock, a read-only folder, a process killed
with its row still open.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from companion.journal.schema import (FINISHED, MIGRATIONS, QUIT, SCHEMA_VERSION, UNEXPECTED, SessionEnd,
                                      SessionStart)
from companion.journal.store import Journal, JournalError, forget

START = SessionStart(kind="guided", routine="Quick reset", routine_hash="abc", routine_ref="quick-reset",
                     planned_s=300.0, step_count=4, seed=3, minutes=5.0, tension_before=6)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_journal_folder_is_0700_and_the_file_0600_even_with_a_loose_umask(tmp_path):
    old = os.umask(0o000)
    try:
        path = tmp_path / "data" / "journal.sqlite3"
        with Journal.open(path) as journal:
            journal.finish(journal.start(START), SessionEnd(FINISHED, 300.0, 3))
    finally:
        os.umask(old)
    assert mode(path.parent) == 0o700, oct(mode(path.parent))
    assert mode(path) == 0o600, oct(mode(path))


def test_a_session_is_one_row_written_at_start_and_completed_at_the_end(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal.open(path) as journal:
        row_id = journal.start(START)
        [open_row] = journal.sessions()
        assert open_row.ended is None and open_row.ending == "running"      # this process is alive
        journal.finish(row_id, SessionEnd(QUIT, 121.5, 2, tension_after=3))
    raw = sqlite3.connect(path).execute(
        "SELECT routine, planned_s, played_s, ended, step_reached, tension_before, tension_after, seed, minutes"
        " FROM sessions").fetchall()
    assert raw == [("Quick reset", 300.0, 121.5, "quit", 2, 6, 3, 3, 5.0)]


def test_a_killed_session_reads_as_ended_unexpectedly_and_the_next_start_marks_it(tmp_path):
    path = tmp_path / "journal.sqlite3"
    code = ("import sys, os, signal; from companion.journal.store import Journal; from companion.journal.schema import SessionStart;"
            f"j = Journal.open({str(path)!r}); j.start(SessionStart('guided', 'R', 'h', 'r', 60.0));"
            "os.kill(os.getpid(), signal.SIGKILL)")
    killed = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert killed.returncode == -9
    with Journal.open(path) as journal:
        [row] = journal.sessions()
        assert row.ended is None and row.ending == UNEXPECTED, "a dead process's open row reads as unexpected"
        journal.start(START)
        assert journal.sessions()[0].ended == UNEXPECTED, "the next start marks it for good"
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


V1_ROWS = [(1_700_000_000.0, "guided", "Head and neck", "h1", 900.0, 900.0, "finished", 6, "builtin"),
           (1_700_090_000.0, "guided", "Quick reset", "h2", 300.0, 80.0, "quit", 1, "builtin")]


def test_a_v1_journal_is_migrated_and_keeps_its_sessions(tmp_path):
    path = tmp_path / "journal.sqlite3"
    old = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:            # the v1 schema, as the first release wrote it
        old.execute(statement)
    old.executemany("INSERT INTO sessions (started_unix, kind, routine, routine_hash, planned_s, played_s, ended,"
                    " step_reached, music) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", V1_ROWS)
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION == 2
        rows = journal.sessions()
        assert [(r.routine, r.played_s, r.ended, r.step_reached) for r in rows] == \
            [("Head and neck", 900.0, "finished", 6), ("Quick reset", 80.0, "quit", 1)]
        assert rows[1].tension_before is None and rows[1].note is None and rows[1].seed == 0
        journal.add_note("kept after the migration")
    assert Journal.open(path).last().note == "kept after the migration"


def test_a_journal_from_a_newer_companion_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal.open(path):
        pass
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="newer companion.*schema 99"):
        Journal.open(path)
    assert path.read_bytes() == before


def test_a_damaged_journal_is_kept_aside_with_a_dated_name_and_a_new_one_begins(tmp_path, caplog):
    path = tmp_path / "journal.sqlite3"
    junk = os.urandom(4096)
    path.write_bytes(junk)
    with Journal.open(path) as journal:
        assert journal.sessions() == []
    [aside] = list(tmp_path.glob("journal.damaged-*.sqlite3"))
    assert aside.read_bytes() == junk, "the damaged file is kept byte for byte"
    assert "damaged and is kept as" in caplog.text


def test_a_locked_journal_fails_within_the_lock_timeout(tmp_path):
    path = tmp_path / "journal.sqlite3"
    Journal.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        began = time.monotonic()
        with pytest.raises(JournalError, match="locked by another program"):
            Journal.open(path, lock_timeout_s=0.2).start(START)
        assert time.monotonic() - began < 1.0
    finally:
        holder.execute("ROLLBACK")


@contextlib.contextmanager
def read_only(path):
    """Make ``path`` unwritable for real: chmod for a user, the immutable flag for root (who ignores modes)."""
    if os.geteuid() != 0:
        os.chmod(path, 0o400)
        yield
        os.chmod(path, 0o600)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root on a filesystem without the immutable flag: cannot make a read-only file")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_journal_is_an_error_not_a_crash_and_is_left_unchanged(tmp_path):
    path = tmp_path / "journal.sqlite3"
    Journal.open(path).close()
    before = path.read_bytes()
    with read_only(path):
        with pytest.raises(JournalError, match="cannot be written"):
            Journal.open(path).start(START)
    assert path.read_bytes() == before


def test_forget_deletes_the_journal_and_the_set_aside_copies_and_counts_the_sessions(tmp_path):
    path = tmp_path / "journal.sqlite3"
    (tmp_path / "journal.damaged-20261101-101010.sqlite3").write_bytes(b"old")
    with Journal.open(path) as journal:
        journal.start(START)
        journal.start(START)
    held, removed = forget(path)
    assert held == 2
    assert sorted(p.name for p in removed) == ["journal.damaged-20261101-101010.sqlite3", "journal.sqlite3"]
    assert list(tmp_path.iterdir()) == []


def _recorder_counting_commits(path):
    """A recorder with its start row written, and the COMMITs its connection makes from now on (SQLite's
    statement trace)."""
    from companion.journal.recorder import SessionRecorder

    recorder = SessionRecorder.begin(START, path=path)
    commits: list[str] = []
    recorder._journal._db.set_trace_callback(lambda sql: commits.append(sql) if sql.startswith("COMMIT") else None)
    return recorder, commits


def _row(path) -> tuple:
    return sqlite3.connect(path).execute("SELECT ended, played_s, tension_after, pain_after FROM sessions"
                                         " ORDER BY id DESC LIMIT 1").fetchone()


def test_the_ending_and_the_after_answers_are_one_write_and_the_ending_never_waits_long(tmp_path):
    path = tmp_path / "journal.sqlite3"
    answered, commits = _recorder_counting_commits(path)
    answered.end(SessionEnd(FINISHED, 300.0, 3), hold_s=5.0)
    assert _row(path)[0] is None, "held while the questions are asked"
    answered.after(tension=2, pain=1)
    assert (len(commits), _row(path)) == (1, (FINISHED, 300.0, 2, 1)), "the ending and the answers: one transaction"
    answered.close()
    assert len(commits) == 1

    slow, commits = _recorder_counting_commits(path)
    slow.end(SessionEnd(QUIT, 80.0, 1), hold_s=0.3)
    time.sleep(0.8)                          # the person has not answered yet
    assert _row(path) == (QUIT, 80.0, None, None), "after the hold the ending is written alone"
    slow.after(tension=4, pain=None)
    slow.close()
    assert (len(commits), _row(path)) == (2, (QUIT, 80.0, 4, None)), "the late answer is its own small update"

    interrupted, commits = _recorder_counting_commits(path)
    interrupted.end(SessionEnd(FINISHED, 300.0, 3), hold_s=30.0)
    interrupted.close()                      # Ctrl-C while asking: play's finally closes the recorder
    assert (len(commits), _row(path)) == (1, (FINISHED, 300.0, None, None)), "written at once on close"
