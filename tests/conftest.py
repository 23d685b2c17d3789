"""Shared fixtures.

``virtual_sound``: a private PulseAudio daemon with two null sinks (``room``, the default, and ``cue``)
at 48 kHz float32 and one microphone (``mic``: ALSA PCM ``companion_mic``, fed by ``feed``), started once per test session by scripts/virtual-sound.sh and stopped by its PID at
the end. Its environment (PULSE_SERVER, ALSA_CONFIG_PATH, ...) is put in ``os.environ`` so that
subprocesses (and an in-process sounddevice imported *after* the fixture) reach it through ALSA's
``pulse`` plugin. ``virtual_sound.record(sink)`` records a sink's monitor bit-exactly with parec;
``virtual_sound.feed(samples)`` speaks mono samples into the microphone at real time with pacat.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.livekit import Capture, drain_into  # noqa: F401  (test modules import them from here too)

ROOT = Path(__file__).resolve().parent.parent
VIRTUAL_SOUND = ROOT / "scripts" / "virtual-sound.sh"


def machine_has_sound_card() -> bool:
    """A real sound card (ALSA lists one): then 'no output device at all' cannot be arranged here.

    Tests of the no-device path skip on this, decided before they run, never on what the command
    printed: a message that went missing must fail, not skip."""
    try:
        return "no soundcards" not in open("/proc/asound/cards", encoding="utf-8").read()
    except OSError:
        return False


@dataclass
class Recording:
    path: Path
    channels: int = 2

    def samples(self) -> np.ndarray:
        """What the sink played, float32 (frames, channels)."""
        data = np.fromfile(self.path, dtype="<f4")
        frames = len(data) // self.channels
        return data[: frames * self.channels].reshape(frames, self.channels)


@dataclass
class VirtualSound:
    dir: Path
    env: dict[str, str]
    sinks: tuple[str, ...]
    rate_hz: int = 48_000
    sources: tuple[str, ...] = ("mic",)

    def feed(self, samples: np.ndarray) -> None:
        """Play mono float32 ``samples`` into the microphone, paced at real time; returns when done. (A 300 ms
        buffer: with 20 ms, pacat underran on the busy 2-core machine and the microphone heard gaps.)"""
        subprocess.run(["pacat", "--playback", f"--device={self.sources[0]}", "--raw", "--format=float32le",
                        f"--rate={self.rate_hz}", "--channels=1", "--latency-msec=300"],
                       input=np.asarray(samples, dtype="<f4").tobytes(), env={**os.environ, **self.env},
                       check=True, timeout=120)

    @contextlib.contextmanager
    def record(self, sink: str = "room"):
        """Record ``sink``'s monitor from now until the block ends (idle monitors deliver in bursts, so
        recording starts first and the caller aligns by cross-correlation)."""
        path = self.dir / f"capture-{sink}-{time.monotonic_ns()}.raw"
        with open(path, "wb") as out:
            proc = subprocess.Popen(
                ["parec", f"--device={sink}.monitor", "--raw", "--format=float32le", f"--rate={self.rate_hz}",
                 "--channels=2", "--latency-msec=20"], stdout=out, env={**os.environ, **self.env})
            time.sleep(0.3)
            try:
                yield Recording(path)
            finally:
                time.sleep(0.3)
                proc.terminate()
                proc.wait(timeout=5)


@pytest.fixture(scope="session", autouse=True)
def private_journal(tmp_path_factory) -> Path:
    """Every test (and every CLI it runs) keeps its practice journal, music-library cache, voice cache and
    settings in private folders, never the user's own (a test run once wrote ~/.cache/companion). Tests
    that look at one of them set their own ``COMPANION_*_DIR``; this is the journal's folder."""
    folders = {name: tmp_path_factory.mktemp(name.lower()) for name in
               ("COMPANION_DATA_DIR", "COMPANION_CACHE_DIR", "COMPANION_CONFIG_DIR")}
    saved = {name: os.environ.get(name) for name in folders}
    os.environ.update({name: str(folder) for name, folder in folders.items()})
    yield folders["COMPANION_DATA_DIR"]
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def virtual_sound(tmp_path_factory) -> VirtualSound:
    if sys.platform != "linux" or shutil.which("pulseaudio") is None or shutil.which("parec") is None:
        pytest.skip("virtual sound device needs Linux + pulseaudio (scripts/install-system.sh --test)")
    if "sounddevice" in sys.modules:
        pytest.fail("sounddevice was imported before the virtual sound device started: import it lazily")
    folder = tmp_path_factory.mktemp("virtual-sound")
    sinks = ("room", "cue")
    started = subprocess.run([str(VIRTUAL_SOUND), "start", "--dir", str(folder), "--sinks", ",".join(sinks),
                              "--sources", "mic"],  # VirtualSound.sources
                             capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, f"virtual-sound.sh start failed: {started.stderr}"
    env = dict(line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
               if line.startswith("export "))
    env = {key: value.strip("'") for key, value in env.items()}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield VirtualSound(dir=folder, env=env, sinks=sinks)
    finally:
        subprocess.run([str(VIRTUAL_SOUND), "stop", "--dir", str(folder)], capture_output=True, timeout=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
