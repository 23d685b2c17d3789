"""``companion record`` through the real CLI in a terminal, from a PulseAudio virtual microphone fed with a
known spoken line (espeak-ng) between room tone, over a low rumble: the saved clip's timing, loudness and
rumble judged against that line with scipy and pyloudnorm; the routine's comments kept; ``q`` then a
resumed run that starts at the next line; Ctrl-C keeps the accepted take and a valid routine; no input
device says so in one line."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyloudnorm
import pytest
import soundfile as sf

from companion.plan.routine import load_routine
from tests.studio_signals import RATE_HZ, band_db, heard_as, speech_offset_s, spoken, take

COMPANION = os.path.join(os.path.dirname(sys.executable), "companion")


class Terminal:
    """A command running in a pseudo-terminal: its output collected, keys typed into it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.chunks.append(data)

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def wait_for(self, marker: str, count: int = 1, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while self.output.count(marker) < count:
            assert self.proc.poll() is None or self.output.count(marker) >= count, \
                f"exited {self.proc.returncode} before {marker!r}:\n{self.output}"
            assert time.monotonic() < deadline, f"no {marker!r} within {timeout_s} s:\n{self.output}"
            time.sleep(0.02)

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def finish(self, timeout_s: float = 30) -> int:
        try:
            code = self.proc.wait(timeout=timeout_s)
        finally:
            self.proc.kill()
            self.reader.join(timeout=2)
            os.close(self.master)
        return code


@pytest.fixture(scope="module")
def env(virtual_sound, tmp_path_factory):
    folder = tmp_path_factory.mktemp("record-env")
    return {**os.environ, **virtual_sound.env, "COMPANION_CACHE_DIR": str(folder / "cache"),
            "COMPANION_CONFIG_DIR": str(folder / "config"), "COMPANION_DATA_DIR": str(folder / "data"),
            "XDG_CACHE_HOME": str(folder / "xdg")}


@pytest.fixture(scope="module")
def routine(env, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("record") / "mine.toml"
    subprocess.run([COMPANION, "routines", "new", str(path)], env=env, check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def first_session(virtual_sound, env, routine):
    """Record the first line from the microphone, listen back (l) while the room sink is recorded, accept
    it, then quit with q at the second line."""
    original = routine.read_text(encoding="utf-8")
    text = load_routine(routine).steps[0].lines[0].text
    raw = take(spoken(text), lead_s=1.0, tail_s=1.2, rumble=0.05)
    term = Terminal([COMPANION, "record", str(routine), "--input", "companion_mic", "--count-in", "1"], env)
    term.wait_for("Recording: speak")
    virtual_sound.feed(raw)
    time.sleep(0.3)
    term.press(" ")
    term.wait_for("space accept", timeout_s=30)
    with virtual_sound.record("room") as heard:
        term.press("l")
        term.wait_for("listening ...")
        time.sleep(len(raw) / RATE_HZ + 0.8)     # the take is shorter than what was fed
    term.press(" ")
    term.wait_for("saved clips/settle-1.flac")
    term.wait_for("(settle-2)")
    term.press("q")
    code = term.finish()
    return code, term.output, original, raw, text, heard.samples()


def test_the_recorded_clip_starts_and_ends_close_to_the_speech_at_the_narration_loudness(first_session, routine):
    code, output, _, raw, text, _ = first_session
    assert code == 0, output
    assert "Sit or lie comfortably" in output and "Slow breaths" in output, "the line and its step are shown"
    clip_path = load_routine(routine).steps[0].lines[0].clip
    assert clip_path is not None and clip_path.name == "settle-1.flac"
    clip, rate = sf.read(str(clip_path), dtype="float64")
    assert rate == RATE_HZ
    speech = spoken(text)
    lead_s = speech_offset_s(clip, speech)
    tail_s = len(clip) / RATE_HZ - lead_s - len(speech) / RATE_HZ
    assert 0.0 <= lead_s <= 0.2, f"the clip starts {lead_s * 1000:.0f} ms before the speech (<= 200)"
    assert 0.0 <= tail_s <= 0.3, f"the clip ends {tail_s * 1000:.0f} ms after the speech (<= 300)"
    loudness = pyloudnorm.Meter(RATE_HZ).integrated_loudness(clip)
    assert abs(loudness + 20.0) <= 1.0, f"{loudness:.2f} LUFS, want -20 +/- 1"
    rumble_before = band_db(raw, RATE_HZ, 25, 45) - band_db(raw, RATE_HZ, 300, 3000)
    rumble_after = band_db(clip, RATE_HZ, 25, 45) - band_db(clip, RATE_HZ, 300, 3000)
    assert rumble_before - rumble_after >= 20.0, f"rumble only {rumble_before - rumble_after:.1f} dB lower"


def test_comments_survive_q_then_a_new_run_resumes_r_retakes_s_skips_and_ctrl_c_keeps_the_take(
        first_session, virtual_sound, env, routine):
    _, _, original, _, _, _ = first_session
    now = routine.read_text(encoding="utf-8")
    comments = [line.split("#", 1)[1] for line in original.splitlines() if "#" in line]
    assert [line.split("#", 1)[1] for line in now.splitlines() if "#" in line] == comments
    assert now.replace('{text = "Sit or lie comfortably. Let your shoulders drop.", clip = "clips/settle-1.flac"}',
                       '"Sit or lie comfortably. Let your shoulders drop."') == original, "only that line changed"

    term = Terminal([COMPANION, "record", str(routine), "--input", "companion_mic", "--count-in", "1"], env)
    term.wait_for("Recording: speak")
    assert "[1/9] Slow breaths, line 2 (settle-2)" in term.output, term.output
    term.press("r")                                  # retake: counted in again, same line
    term.wait_for("again:")
    term.wait_for("Recording: speak", count=2)
    term.press("s")                                  # skip: on to the next line, nothing saved
    term.wait_for("[2/9] Temples, line 1 (temples-1)")
    term.wait_for("Recording: speak", count=3)
    virtual_sound.feed(take(spoken("Rest your hands on your belly."), lead_s=0.3, tail_s=0.2)[: RATE_HZ])
    term.proc.send_signal(signal.SIGINT)
    code = term.finish()
    assert code == 130, term.output
    assert "every accepted take is saved" in term.output
    reloaded = load_routine(routine)
    assert reloaded.steps[0].lines[0].clip.name == "settle-1.flac" and reloaded.steps[0].lines[1].clip is None
    assert reloaded.steps[1].lines[0].clip is None and sorted(p.name for p in (routine.parent / "clips").iterdir()) \
        == ["settle-1.flac"]
    assert not list(routine.parent.glob("clips/.take-*")), "no half-written take is left"


def test_no_input_device_says_so_in_one_line_and_suggests_import(virtual_sound, routine, env):
    quiet = {k: v for k, v in env.items() if not k.startswith(("PULSE_", "ALSA_"))}
    quiet.update(PULSE_SERVER="unix:/nonexistent/native", PULSE_CLIENTCONFIG=virtual_sound.env["PULSE_CLIENTCONFIG"],
                 PULSE_RUNTIME_PATH=str(virtual_sound.dir / "nowhere"))
    result = subprocess.run([COMPANION, "record", str(routine)], env=quiet, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no input device") and "--import" in lines[0], result.stderr


def test_l_plays_the_cleaned_take_back(first_session, routine):
    heard = first_session[5][:, 0].astype("float64")
    clip, _ = sf.read(str(load_routine(routine).steps[0].lines[0].clip), dtype="float64")
    residual_db, gain_db = heard_as(heard, clip)
    assert residual_db < -30.0 and abs(gain_db) < 1.0, \
        f"listen back: residual {residual_db:.1f} dB, gain {gain_db:+.2f} dB"
