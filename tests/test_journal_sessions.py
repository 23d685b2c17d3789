"""Sessions recorded by the real CLI on the virtual sound device: endings, check-in, resume and faults.

One short routine written by the test: three steps whose only narration line is a tone burst of its own
pitch (330, 550, 770 Hz), no music, so the first sound a session makes says which step it started at.
Each test reads the journal back with sqlite3 directly, not through the code under test.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from companion.journal.store import Journal
from tests import sessionkit
from tests.conftest import drain_into as drain

sf = pytest.importorskip("soundfile")

COMPANION = os.path.join(os.path.dirname(sys.executable), "companion")
ROOT_DIR = Path(__file__).resolve().parent.parent
RATE_HZ = 48_000
STEP_HZ = (330.0, 550.0, 770.0)
SEED = "5"


def burst(freq_hz: float, seconds: float = 0.8) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    edge = int(0.05 * RATE_HZ)
    envelope = np.ones_like(t)
    envelope[:edge] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, edge))
    envelope[-edge:] = envelope[:edge][::-1]
    return (0.3 * envelope * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def routine(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("journal-routine")
    for index, freq in enumerate(STEP_HZ):
        sessionkit.write(folder / "clips" / f"step{index}.wav", burst(freq), RATE_HZ)
    return sessionkit.routine_file(folder, [
        {"id": f"step-{i + 1}", "clips": [f"clips/step{i}.wav"], "hold": 1} for i in range(3)],
        session={"music": "none", "fade_in_s": 5, "fade_out_s": 15, "chimes": False}, name="Journal test")


class Run:
    """A `companion` process with its output collected (on a pipe, or on a pseudo-terminal)."""

    def __init__(self, args: list[str], data_dir: Path, virtual_sound, *, use_pty: bool = False,
                 extra_env: dict | None = None) -> None:
        env = {**os.environ, **virtual_sound.env, "COMPANION_DATA_DIR": str(data_dir), **(extra_env or {})}
        self.chunks: list[bytes] = []
        self.master = None
        if use_pty:
            self.master, slave = pty.openpty()
            self.proc = subprocess.Popen([COMPANION, *args], stdin=slave, stdout=slave, stderr=slave, env=env)
            os.close(slave)
            fd = self.master
        else:
            self.proc = subprocess.Popen([COMPANION, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env=env)
            fd = self.proc.stdout.fileno()
        self._reader = threading.Thread(target=drain, args=(fd, self.chunks), daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def wait_for(self, marker: str, timeout_s: float = 20.0, after: int = 0) -> int:
        deadline = time.monotonic() + timeout_s
        while (found := self.output.find(marker, after)) < 0:
            if time.monotonic() >= deadline:
                self.proc.kill()                 # a failed wait must not leave a player waiting on its pty
                raise AssertionError(f"no {marker!r} within {timeout_s} s: {self.output!r}")
            assert self.proc.poll() is None or marker in self.output, f"exited early: {self.output!r}"
            time.sleep(0.02)
        return found + len(marker)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self, timeout_s: float = 30.0) -> int:
        try:
            self.proc.wait(timeout=timeout_s)
        finally:
            self.proc.kill()
            self.proc.wait()
            self._reader.join(timeout=5)
            if self.master is not None:
                os.close(self.master)
        return self.proc.returncode


def rows(data_dir: Path) -> list[dict]:
    db = sqlite3.connect(data_dir / "journal.sqlite3")
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("SELECT * FROM sessions ORDER BY id")]


def play_args(routine: Path, *more: str) -> list[str]:
    return ["play", str(routine), "--seed", SEED, "--device", "companion_room", *more]


def test_a_finished_ambient_session_is_recorded_as_finished(virtual_sound, tmp_path):
    run = Run(["ambient", "--minutes", "0.25", "--fade-out", "5", "--music", "none", "--no-keys",
               "--device", "companion_room"], tmp_path, virtual_sound)
    assert run.finish(timeout_s=60) == 0, run.output
    [row] = rows(tmp_path)
    assert (row["kind"], row["ended"], row["routine"]) == ("ambient", "finished", "Ambient")
    assert row["planned_s"] == pytest.approx(15.0, abs=0.01)
    assert row["played_s"] == pytest.approx(15.0, abs=0.1), "played to the end"


def test_check_in_spoken_and_quit_through_a_terminal(virtual_sound, routine, tmp_path):
    """The check-in over a pty, each question also spoken (--speak-check-in) before the session's first sound,
    a key stopping the voice mid-question; then quit, and the after-questions spoken and answered."""
    with virtual_sound.record("room") as recording:
        run = Run(play_args(routine, "--speak-check-in"), tmp_path, virtual_sound, use_pty=True)  # implies --check-in
        seen = run.wait_for("Tension now, 0 to 10?")
        time.sleep(1.0)                              # mid-question (the clip is 2.6 s): the key stops the voice
        run.type(b"x")                               # not a scale key: asked again (and said again)
        seen = run.wait_for("Please press 0-9, t for 10, Enter to skip", after=seen)
        time.sleep(0.3)
        run.type(b"7")
        seen = run.wait_for("Any pain now?", after=seen)
        time.sleep(0.6)                              # long enough to be recognised (0.2 s) in the capture
        run.type(b"y")
        seen = run.wait_for("Pain now, 0 to 10?", after=seen)
        run.type(b"t")
        seen = run.wait_for("Playing.", after=seen)
        time.sleep(1.0)
        run.type(b"n")                               # on to step 2 (0.8 s later)
        time.sleep(2.5)
        run.type(b"q")
        seen = run.wait_for("Tension now, 0 to 10?", after=seen, timeout_s=15)
        time.sleep(0.6)
        run.type(b"3")
        seen = run.wait_for("Pain now, 0 to 10?", after=seen)
        run.type(b"\r")                                  # Enter: skipped
        assert run.finish() == 0, run.output
    out = run.output
    assert "Stopped at step 2/3 (Step-2)" in out, out.replace("\x1b[K", "")
    assert f"To pick up there: companion play {routine} --from 2 --seed {SEED}" in out
    assert "not spoken" not in out, out
    [row] = rows(tmp_path)
    assert (row["ended"], row["step_reached"], row["step_count"]) == ("quit", 1, 3)
    assert (row["tension_before"], row["pain_before"], row["tension_after"], row["pain_after"]) == (7, 10, 3, None)
    assert 4.0 < row["played_s"] < 9.0, row["played_s"]

    captured = recording.samples()[:, 0].astype(np.float64)
    tension = matches(captured, question_clip("tension"))
    any_pain = matches(captured, question_clip("any-pain"))
    session_starts = min(at for hz in STEP_HZ for at in matches(captured, burst(hz).astype(np.float64)))
    assert len(tension) == 3, f"the tension question said twice before (asked again) and once after: {tension}"
    assert tension[0] < tension[1] < session_starts < tension[2], (tension, session_starts)
    assert len(any_pain) == 1 and any_pain[0] < session_starts, "the pain question, before the session's first sound"
    assert 0.9 < (tension[1] - tension[0]) / RATE_HZ < 1.9, \
        "the key (1.0 s in) cut the first saying short of its 2.6 s: the person never waits for it"


def test_without_speak_check_in_nothing_is_spoken(virtual_sound, routine, tmp_path):
    with virtual_sound.record("room") as recording:
        run = Run(play_args(routine, "--check-in", "--no-journal"), tmp_path, virtual_sound, use_pty=True)
        run.wait_for("Tension now, 0 to 10?")
        time.sleep(1.5)
        run.type(b"5")
        run.wait_for("Any pain now?")
        time.sleep(1.0)
        run.type(b"n")
        run.wait_for("Playing.")
        run.proc.send_signal(signal.SIGINT)
        assert run.finish() == 130, run.output
    captured = recording.samples()
    assert np.abs(captured).max() < 1e-4, "silence while the questions were asked: nothing spoken"


def question_clip(question_id: str) -> np.ndarray:
    """The shipped clip of a check-in question (heart), read with soundfile and taken to 48 kHz with scipy."""
    from scipy.signal import resample_poly

    from companion.narration.voices import CHECK_IN_PHRASES
    from companion.narration.voicing import shipped_clip

    audio, rate = sf.read(shipped_clip(CHECK_IN_PHRASES[question_id], "heart"), dtype="float64")
    return resample_poly(audio, RATE_HZ, rate)


def matches(captured: np.ndarray, clip: np.ndarray, window_s: float = 0.2, threshold: float = 0.9) -> list[int]:
    """Where the first ``window_s`` of ``clip`` starts in ``captured``: normalised cross-correlation peaks
    above ``threshold`` (gain-independent), at least a window apart; stretches under -60 dBFS RMS are not
    looked at (their normalisation is all rounding error)."""
    from scipy.signal import correlate

    probe = clip[: int(window_s * RATE_HZ)]
    raw = correlate(captured, probe, mode="valid", method="fft")
    local = np.sqrt(np.maximum(correlate(captured ** 2, np.ones(len(probe)), mode="valid", method="fft"), 0.0))
    loud = local > np.sqrt(len(probe)) * 1e-3
    score = np.where(loud, raw / (np.maximum(local, 1e-12) * np.linalg.norm(probe)), 0.0)
    found: list[int] = []
    for index in np.flatnonzero(score > threshold):
        if found and index - found[-1] < len(probe):
            if score[index] > score[found[-1]]:
                found[-1] = int(index)
            continue
        found.append(int(index))
    return found


def first_sound(samples: np.ndarray, threshold_db: float = -50.0) -> int:
    level = 20 * np.log10(np.abs(samples[:, 0]) + 1e-12)
    return int(np.argmax(level > threshold_db))


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples[:, 0] * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE_HZ)[np.argmax(spectrum)])


def test_ctrl_c_is_recorded_and_resume_starts_at_that_step_like_a_render_from_it(virtual_sound, routine, tmp_path):
    stopped = Run(play_args(routine), tmp_path, virtual_sound, use_pty=True)
    stopped.wait_for("Playing.")
    stopped.type(b"n")                               # step 2 starts 0.8 s later
    stopped.wait_for("2/3 Step-2")
    stopped.proc.send_signal(signal.SIGINT)
    assert stopped.finish() == 130, stopped.output
    [row] = rows(tmp_path)
    assert (row["ended"], row["step_reached"], row["seed"]) == ("interrupted", 1, int(SEED))

    reference = tmp_path / "from-2.wav"
    rendered = subprocess.run([COMPANION, "render", str(routine), "--seed", SEED, "--from", "2", "-o", str(reference)],
                              capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    expected, _ = sf.read(reference, dtype="float32", always_2d=True)
    with virtual_sound.record("room") as recording:
        resumed = Run(["play", "--resume", "--no-keys", "--device", "companion_room"], tmp_path, virtual_sound)
        resumed.wait_for("step 2/3")
        time.sleep(5.0)                              # the lead-in (3.75 s) and step 2's line have played
        resumed.proc.send_signal(signal.SIGINT)
        assert resumed.finish() == 130, resumed.output
    assert "Picking up Journal test at step 2 of 3" in resumed.output
    captured = recording.samples()
    start_c, start_r = first_sound(captured), first_sound(expected)
    line_c = captured[start_c: start_c + int(0.6 * RATE_HZ)]
    line_r = expected[start_r: start_r + int(0.6 * RATE_HZ)]
    assert dominant_hz(line_c) == pytest.approx(STEP_HZ[1], abs=5), "the first line heard is step 2's"
    error = line_c - line_r
    snr_db = 10 * np.log10(np.sum(line_r.astype(np.float64) ** 2) / max(np.sum(error.astype(np.float64) ** 2), 1e-30))
    assert snr_db > 30, f"first line vs the render of --from 2: SNR {snr_db:.1f} dB"
    lead_in_s = (start_r / RATE_HZ)
    assert lead_in_s == pytest.approx(0.75 * 5, abs=0.1), "the normal lead-in (and fade-in) before it"
    second = rows(tmp_path)[1]
    assert (second["start_step"], second["seed"], second["planned_s"]) == \
        (1, int(SEED), pytest.approx(len(expected) / RATE_HZ, abs=0.05))


def test_a_device_that_never_comes_back_is_recorded_as_lost(virtual_sound, routine, tmp_path):
    script = [str(ROOT_DIR / "scripts" / "virtual-sound.sh")]
    where = ["--dir", str(virtual_sound.dir)]
    run = Run(play_args(routine, "--no-keys"), tmp_path, virtual_sound, extra_env={"COMPANION_DEVICE_RETRY_S": "2"})
    try:
        run.wait_for("step 1/3")
        time.sleep(1.0)
        subprocess.run([*script, "stop", *where], capture_output=True, timeout=30, check=True)
        code = run.finish(timeout_s=30)
    finally:
        subprocess.run([*script, "start", *where, "--sinks", ",".join(virtual_sound.sinks),
                        "--sources", ",".join(virtual_sound.sources)], capture_output=True, timeout=30, check=True)
    assert code == 1, run.output
    assert "Error: the sound device stopped and none came back" in run.output
    [row] = rows(tmp_path)
    assert (row["ended"], row["step_reached"]) == ("device-lost", 0)
    assert 0.5 < row["played_s"] < 5.0


def test_sigkill_mid_session_leaves_a_readable_journal_with_an_unexpected_ending(virtual_sound, routine, tmp_path):
    run = Run(play_args(routine, "--no-keys"), tmp_path, virtual_sound)
    run.wait_for("step 1/3")
    run.proc.send_signal(signal.SIGKILL)
    assert run.finish() == -9
    assert sqlite3.connect(tmp_path / "journal.sqlite3").execute("PRAGMA integrity_check").fetchone() == ("ok",)
    shown = subprocess.run([COMPANION, "journal"], capture_output=True, text=True, timeout=30,
                           env={**os.environ, "COMPANION_DATA_DIR": str(tmp_path)})
    assert shown.returncode == 0 and "ended unexpectedly" in shown.stdout, shown.stdout


# Each fault returns (what to undo, the file's bytes once faulty). The bytes of a locked file are read
# before the lock is taken: closing any descriptor of a file drops this process's POSIX locks on it.
def _corrupt(path: Path):
    path.write_bytes(b"not a database, " * 256)
    return None, path.read_bytes()


def _locked(path: Path):
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS x (y)")
    before = path.read_bytes()
    holder.execute("BEGIN EXCLUSIVE")
    return holder, before


def _read_only(path: Path):
    Journal.open(path).close()                     # a good journal, only unwritable
    if os.geteuid() != 0:
        os.chmod(path, 0o400)
        return None, path.read_bytes()
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("root on a filesystem without the immutable flag: cannot make a read-only file")
    return "immutable", path.read_bytes()


@pytest.mark.parametrize("fault, warning", [
    (_corrupt, "was damaged and is kept as journal.damaged-"),
    (_locked, "is locked by another program"),
    (_read_only, "cannot be written"),
])
def test_a_faulty_journal_warns_once_and_the_session_still_plays(virtual_sound, routine, tmp_path, fault, warning):
    path = tmp_path / "journal.sqlite3"
    path.touch(mode=0o600)
    holder, before = fault(path)
    stats = tmp_path / "stats.json"
    try:
        run = Run(play_args(routine, "--no-keys"), tmp_path, virtual_sound,
                  extra_env={"COMPANION_PLAYER_STATS": str(stats)})
        run.wait_for("step 1/3")
        time.sleep(1.5)
        run.proc.send_signal(signal.SIGINT)
        code = run.finish()
    finally:
        if holder == "immutable":
            subprocess.run(["chattr", "-i", str(path)], check=True)
        elif holder is not None:
            holder.execute("ROLLBACK")
    assert code == 130, run.output
    # (a dropout warning from a busy machine is the player's business, not the journal's)
    warnings = [line for line in run.output.splitlines() if line.startswith("Warning:") and "journal" in line]
    assert len(warnings) == 1 and warning in warnings[0], run.output
    figures = json.loads(stats.read_text())
    played_s = figures["blocks"] * figures["block_frames"] / figures["rate_hz"]
    assert played_s > 1.0, f"the session played: {figures}"
    if fault is _corrupt:
        [aside] = tmp_path.glob("journal.damaged-*.sqlite3")
        assert aside.read_bytes() == before, "the damaged file is kept, byte for byte"
        assert [r["ended"] for r in rows(tmp_path)] == ["interrupted"], "a new journal recorded the session"
    else:
        assert path.read_bytes() == before, "nothing overwritten"
