"""Generated material for engine tests: music files, narration clips and routine files made by code.

Signals are deterministic (seeded), short, and shaped so that properties are easy to measure: a steady
1 kHz tone for levels and ducking, uncorrelated noise for crossfade power, speech-like modulated noise for
loudness, and silence where a bus must not contribute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

RATE = 48_000


def tone(seconds: float, freq_hz: float = 1000.0, level_db: float = -20.0, rate: int = RATE,
         channels: int = 2) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    x = (10 ** (level_db / 20) * np.sqrt(2) * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def noise(seconds: float, level_db: float = -20.0, seed: int = 0, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (10 ** (level_db / 20) * rng.standard_normal((int(round(seconds * rate)), 2))).astype(np.float32)


def speechlike(seconds: float, seed: int = 0, rate: int = 24_000) -> np.ndarray:
    """Band-limited noise with a syllable-rate (4 Hz) envelope and short pauses: a stand-in for a voice."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    x = rng.standard_normal(n)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[(freqs < 150) | (freqs > 4000)] = 0
    x = np.fft.irfft(spectrum, n)
    t = np.arange(n) / rate
    envelope = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    x = x * envelope / (np.abs(x).max() + 1e-9) * 0.5
    fade = min(n // 4, int(0.01 * rate))
    x[:fade] *= np.linspace(0, 1, fade)
    x[-fade:] *= np.linspace(1, 0, fade)
    return x.astype(np.float32)


def write(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples, rate)
    return path


CLIP_SECONDS = (2.0, 3.0, 2.5, 2.2)


def make_material(folder: Path) -> Path:
    """Music folders (music/: a steady 440 Hz tone; noise/: two noise tracks) and narration clips
    (clips/v0..v3.wav speech-like, clips/s0..s3.wav silent, same lengths) under ``folder``."""
    write(folder / "music" / "tone.wav", tone(40.0, 440.0, -20.0))
    write(folder / "noise" / "a.wav", noise(12.0, -22.0, seed=1))
    write(folder / "noise" / "b.wav", noise(12.0, -22.0, seed=2))
    for i, seconds in enumerate(CLIP_SECONDS):
        write(folder / "clips" / f"v{i}.wav", speechlike(seconds, seed=i), 24_000)
        write(folder / "clips" / f"s{i}.wav", np.zeros(int(seconds * 24_000), np.float32), 24_000)
    return folder


def three_steps(folder: Path, prefix: str = "v", **session) -> Path:
    """A 3-step routine over ``make_material`` clips (``prefix`` v: speech-like, s: silent), ~45 s long."""
    options = {"fade_in_s": 5, "fade_out_s": 15, **session}
    return routine_file(folder, [
        {"id": "one", "clips": [f"clips/{prefix}0.wav", f"clips/{prefix}1.wav"], "hold": 6, "chime_end": True},
        {"id": "two", "clips": [f"clips/{prefix}2.wav"], "hold": 5, "breath": {"in_s": 2, "out_s": 3}},
        {"id": "three", "clips": [f"clips/{prefix}3.wav"], "hold": 3},
    ], session=options)


def routine_file(folder: Path, steps: list[dict], *, session: dict | None = None, name: str = "Test routine") -> Path:
    """A routine TOML in ``folder``. Each step dict: id, clips (list of relative clip paths), hold, extras."""
    lines = [f'name = "{name}"']
    if session:
        lines.append("[session]")
        for key, value in session.items():
            lines.append(f"{key} = {_toml(value)}")
    for step in steps:
        lines.append("[[steps]]")
        lines.append(f'id = "{step["id"]}"')
        lines.append(f'title = "{step.get("title", step["id"].title())}"')
        clips = ", ".join(f'{{ clip = "{clip}" }}' for clip in step.get("clips", []))
        lines.append(f"lines = [{clips}]")
        lines.append(f"hold = {_toml(step.get('hold', 2))}")
        for key in ("chime_start", "chime_end", "breath"):
            if key in step:
                lines.append(f"{key} = {_toml(step[key])}")
    path = folder / "routine.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def render_all(session, block_frames: int | list[int] = 48_000) -> np.ndarray:
    """Render a whole session with a fixed block size, or cycling through a list of sizes."""
    sizes = block_frames if isinstance(block_frames, list) else [block_frames]
    buffers = {size: np.zeros((size, 2), np.float32) for size in sizes}
    parts = []
    i = 0
    while not session.finished:
        out = buffers[sizes[i % len(sizes)]]
        written = session.render(out)
        parts.append(out[:written].copy())
        i += 1
    session.close()
    return np.concatenate(parts)


def windows_db(x: np.ndarray, rate: int = RATE, window_s: float = 0.01) -> np.ndarray:
    """RMS level in dB of consecutive windows (both channels together)."""
    n = int(round(window_s * rate))
    count = len(x) // n
    blocks = x[: count * n].reshape(count, n, -1).astype(np.float64)
    rms = np.sqrt((blocks ** 2).mean(axis=(1, 2)))
    return 20 * np.log10(np.maximum(rms, 1e-12))
