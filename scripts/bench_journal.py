#!/usr/bin/env python3
"""Benchmark: the practice journal over five years of daily sessions.

Targets (issue 13): `companion journal` and `companion report` each under 1 s over a 5-year journal (one
session a day); the journal adds < 20 ms to a session's start (median of 5).

What is measured, in one run, on a synthetic journal of 1,826 sessions with check-ins and some notes:
- `companion journal` and `companion report --weeks 260` as whole processes (wall and CPU time, median of
  5, the jobs interleaved so that a change in the machine's load falls on all of them), against the
  interpreter starting alone (`python -c pass`) as the named reference, with `companion --version` (the
  command line itself, no command module loaded) beside it;
- the same two jobs in-process (reading the rows, building the table or the HTML and its chart);
- a session's journal start (open, schema check, mark dead rows, insert: one transaction), written in
  place and as play/ambient do it (on the journal thread, while the player opens the device): what it
  adds to the start, median of 5, against building the session it would record (the built-in
  quick-reset routine, no music) as the reference.

    .venv/bin/python scripts/bench_journal.py
"""

from __future__ import annotations

import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
COMPANION = str(Path(sys.executable).parent / "companion")
DAYS = 5 * 365 + 1
REPEATS = 5


def synthetic_journal(path: Path) -> int:
    """One session a day for five years, written through the real schema, in one transaction."""
    from companion.journal.store import Journal

    Journal.open(path).close()
    rng = random.Random(13)
    now = time.time()
    rows = []
    for day in range(DAYS):
        started = now - (DAYS - day) * 86400 + rng.uniform(17, 21) * 3600
        tension = rng.randint(3, 8)
        ended = rng.choice(["finished"] * 8 + ["quit", "interrupted"])
        rows.append((started, "guided", rng.choice(["Head and neck", "Quick reset", "Wind down"]), "hash",
                     "quick-reset", 900.0, 900.0 if ended == "finished" else rng.uniform(60, 800), ended,
                     rng.randint(0, 6), "builtin", 7, 0, None, 0, tension, max(0, tension - rng.randint(0, 4)),
                     None, None, "Felt easier" if day % 30 == 0 else None, 1))
    db = sqlite3.connect(path)
    with db:
        db.executemany("INSERT INTO sessions (started_unix, kind, routine, routine_hash, routine_ref, planned_s,"
                       " played_s, ended, step_reached, music, step_count, start_step, minutes, seed,"
                       " tension_before, tension_after, pain_before, pain_after, note, pid)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()
    return len(rows)


def median_s(job, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        job()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def processes(jobs: dict[str, list[str]], env: dict) -> dict[str, tuple[float, float]]:
    """name -> (median wall s, median CPU s of the process) over REPEATS rounds, the jobs interleaved."""
    walls: dict[str, list[float]] = {name: [] for name in jobs}
    cpus: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(REPEATS):
        for name, command in jobs.items():
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, env=env)
            walls[name].append(time.perf_counter() - began)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[name].append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
            if result.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed: {result.stderr}")
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in jobs}


def main() -> None:
    from companion.journal.recorder import SessionRecorder, routine_start
    from companion.journal.report import build_report
    from companion.journal.store import Journal
    from companion.journal.views import table, tension_trend, week_summary

    with tempfile.TemporaryDirectory(prefix="bench-journal-") as folder:
        folder = Path(folder)
        path = folder / "journal.sqlite3"
        count = synthetic_journal(path)
        env = {**os.environ, "COMPANION_DATA_DIR": str(folder)}
        size_kb = path.stat().st_size / 1024
        print(f"Synthetic journal: {count} sessions (one a day for 5 years), {size_kb:.0f} KiB")

        figures = processes({
            "python -c pass": [sys.executable, "-c", "pass"],
            "companion --version": [COMPANION, "--version"],
            "companion journal": [COMPANION, "journal"],
            "companion report --weeks 260": [COMPANION, "report", "-o", str(folder / "r.html"), "--weeks", "260",
                                             "--force"],
        }, env)
        reference_wall, reference_cpu = figures.pop("python -c pass")
        print(f"\nWhole processes, median of {REPEATS}, interleaved (reference: the interpreter alone, "
              f"`python -c pass`, {reference_wall * 1000:.0f} ms wall, {reference_cpu * 1000:.0f} ms CPU):")
        for name, (wall, cpu) in figures.items():
            verdict = "" if name.endswith("--version") else ("  (under 1 s)" if wall < 1.0 else "  (OVER 1 s)")
            print(f"  {name:30s} {wall * 1000:6.0f} ms wall = {wall / reference_wall:4.1f}x the reference; "
                  f"CPU {cpu * 1000:5.0f} ms = {cpu / reference_cpu:4.1f}x{verdict}")

        def journal_in_process() -> None:
            with Journal.open(path) as journal:
                rows = journal.sessions()
            table(rows[-20:]), week_summary(rows), tension_trend(rows)

        def report_in_process() -> None:
            with Journal.open(path) as journal:
                rows = journal.sessions()
            build_report(rows, weeks=260)

        print(f"\nIn-process, median of {REPEATS}:")
        print(f"  journal (read {count} rows, table, week, trend) {median_s(journal_in_process) * 1000:6.1f} ms")
        print(f"  report  (read {count} rows, HTML, chart)        {median_s(report_in_process) * 1000:6.1f} ms")

        from companion.mix.assemble import build_session
        from companion.plan.routine import load_routine

        routine = load_routine("quick-reset")

        def build() -> None:
            build_session(routine, music=["none"]).close()

        build_s = median_s(build)

        def start_recorder(background: bool) -> SessionRecorder:
            return SessionRecorder.begin(routine_start(routine, ref="quick-reset", planned_s=300.0, start_step=0,
                                                       minutes=None, seed=0, music="none", tension=None, pain=None),
                                         path=path, background=background)

        blocking, written, added = [], [], []
        for _ in range(REPEATS):
            began = time.perf_counter()
            recorder = start_recorder(False)
            blocking.append(time.perf_counter() - began)
            assert recorder.recording
            recorder.close()
            began = time.perf_counter()
            recorder = start_recorder(True)          # as play and ambient do it
            added.append(time.perf_counter() - began)
            assert recorder.recording                # waits for the write
            written.append(recorder.took_s)
            recorder.close()
        added_s = statistics.median(added)
        print(f"\nSession start, median of {REPEATS} (reference: building the quick-reset session, "
              f"{build_s * 1000:.0f} ms):")
        print(f"  the start row written in place (open, check, mark, insert, commit) {statistics.median(blocking) * 1000:6.1f} ms"
              f" = {statistics.median(blocking) / build_s:5.3f}x the reference")
        print(f"  the same on the journal thread, as play/ambient do: the thread took "
              f"{statistics.median(written) * 1000:.1f} ms;")
        verdict = "under 20 ms" if added_s < 0.020 else "OVER 20 ms"
        print(f"  added to the session's start (main thread) {added_s * 1000:6.2f} ms = {added_s / build_s:6.4f}x "
              f"the reference  ({verdict})")


if __name__ == "__main__":
    main()
