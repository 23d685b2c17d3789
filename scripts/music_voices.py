"""The instruments of companion's bundled music: mono voices and textures at ``SYNTH_RATE_HZ``.

Every voice swells in (raised-cosine attacks of 80 ms or more for notes; the water's droplets are smooth
Hann-shaped grains), nothing is struck, and nothing has energy far above ~6 kHz. Each function draws only
from the generator it is given, so a note sounds the same whatever else is rendered.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

SYNTH_RATE_HZ = 24_000      # the music has nothing to say above ~9 kHz; make_music upsamples 2x at the end


def raised_cosine(frames: int) -> np.ndarray:
    """A 0 -> 1 raised-cosine ramp of ``frames`` samples (smooth at both ends: no click, no corner)."""
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(frames) + 0.5) / frames)


def envelope(frames: int, attack_s: float, release_s: float) -> np.ndarray:
    """Raised-cosine attack and release around a flat middle; ``frames`` must hold both ramps."""
    env = np.ones(frames)
    attack, release = int(attack_s * SYNTH_RATE_HZ), int(release_s * SYNTH_RATE_HZ)
    env[:attack] = raised_cosine(attack)
    env[frames - release:] *= raised_cosine(release)[::-1]
    return env


# --- pads (wavetable) ------------------------------------------------------------------------------------

_TABLE_SIZE = 4096
_CYCLE = np.arange(_TABLE_SIZE + 1) / _TABLE_SIZE
_DARK = sum(a * np.sin(2 * np.pi * k * _CYCLE) for k, a in ((1, 1.0), (2, 0.22), (3, 0.07))).astype(np.float32)
_BRIGHT = (0.6 * sum(np.sin(2 * np.pi * k * _CYCLE) / k**1.3 for k in range(1, 11))).astype(np.float32)
_CONTROL_FRAMES = 32          # slow LFOs are computed once every 32 frames (1.3 ms) and held


def _lookup(table: np.ndarray, whole: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Linear interpolation into a one-cycle table (last entry repeats the first)."""
    low = table[whole]
    return low + frac * (table[whole + 1] - low)


def slow_sine(frames: int, period_s: float, phase: float) -> np.ndarray:
    """A sine LFO at control rate, held for ``_CONTROL_FRAMES`` (steps far below audibility)."""
    t = np.arange(frames // _CONTROL_FRAMES + 1) * (_CONTROL_FRAMES / SYNTH_RATE_HZ)
    return np.repeat(np.sin(2 * np.pi * t / period_s + phase).astype(np.float32), _CONTROL_FRAMES)[:frames]


def pad_voice(hz: float, frames: int, rng: np.random.Generator, brightness: float) -> np.ndarray:
    """One detuned pad voice: a wavetable slowly morphing dark -> bright (a filter sweep), gently drifting."""
    drift = 1.0 + 0.0012 * slow_sine(frames, rng.uniform(20, 50), rng.uniform(0, 2 * np.pi))   # +-2 cents
    cycles = np.cumsum(drift, dtype=np.float64)
    cycles *= hz / SYNTH_RATE_HZ
    cycles += rng.uniform()
    index = (cycles % 1.0) * _TABLE_SIZE
    whole = index.astype(np.int32)
    frac = (index - whole).astype(np.float32)
    sweep = (0.5 * brightness) * (1 + slow_sine(frames, rng.uniform(15, 40), rng.uniform(0, 2 * np.pi)))
    dark = _lookup(_DARK, whole, frac)
    tone = dark + sweep * (_lookup(_BRIGHT, whole, frac) - dark)
    tone *= 1 + 0.25 * slow_sine(frames, rng.uniform(10, 25), rng.uniform(0, 2 * np.pi))
    return tone


# --- melody and keys ---------------------------------------------------------------------------------------

# (partial ratio, amplitude, seconds to -60 dB) and attack; ratios off the harmonic series ring like metal
_STRUCK = {
    "bell": (((1.0, 1.0, 5.0), (2.0, 0.3, 3.0), (3.01, 0.1, 2.0), (4.17, 0.06, 1.4), (5.43, 0.03, 1.0)), 0.09),
    "pluck": (((1.0, 1.0, 3.5), (2.0, 0.18, 1.5), (5.93, 0.05, 0.6)), 0.08),
    "glass": (((1.0, 1.0, 6.0), (1.0015, 0.7, 6.0), (2.0, 0.15, 3.0), (3.0, 0.04, 2.0)), 0.15),
}


def melody_note(kind: str, hz: float, hold_s: float, rng: np.random.Generator) -> np.ndarray:
    """A soft melodic tone: struck-like instruments ring out; the flute holds, with late gentle vibrato."""
    if kind == "flute":
        frames = int((hold_s + 1.2) * SYNTH_RATE_HZ)
        t = np.arange(frames) / SYNTH_RATE_HZ
        vibrato = 1 + 0.004 * np.sin(2 * np.pi * 4.8 * t) * np.clip((t - 0.5) / 1.0, 0, 1)
        phase = 2 * np.pi * np.cumsum(hz * vibrato) / SYNTH_RATE_HZ + rng.uniform(0, 2 * np.pi)
        tone = np.sin(phase) + 0.2 * np.sin(2 * phase) + 0.06 * np.sin(3 * phase)
        return tone * envelope(frames, 0.3, 1.0)
    partials, attack_s = _STRUCK[kind]
    frames = int(max(d for _, _, d in partials) * SYNTH_RATE_HZ)
    t = np.arange(frames) / SYNTH_RATE_HZ
    tone = sum(a * np.exp(-t * np.log(1000.0) / d) * np.sin(2 * np.pi * hz * r * t + rng.uniform(0, 2 * np.pi))
               for r, a, d in partials)
    return tone * envelope(frames, attack_s, 0.3)


def epiano_note(hz: float, hold_s: float, velocity: float, brightness: float, rng: np.random.Generator, *,
                attack_s: float = 0.09) -> np.ndarray:
    """A soft electric-piano tone: two-operator FM (modulator at the carrier's frequency, as in the classic
    tine pianos) whose index -- the brightness -- dies away in under a second, leaving a round, slowly
    decaying sine-like body: a quick settle of ~5 dB in the first second, then a long tail (as with the
    sustain pedal down; low notes ring longer). Softer keys are darker. Raised-cosine attack (90 ms
    unless told), 0.6 s release after ``hold_s``."""
    release_s = 0.6
    frames = int((hold_s + release_s) * SYNTH_RATE_HZ)
    t = np.arange(frames) / SYNTH_RATE_HZ
    ring_s = float(np.clip(30.0 - 6.0 * np.log2(hz / 110.0), 10.0, 30.0))    # the long tail, seconds to -60 dB
    index = brightness * velocity * (0.25 + 1.1 * np.exp(-t / 0.45))
    phase = 2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi)
    body = np.sin(phase + index * np.sin(phase * 1.0 + 0.3))
    body += 0.12 * np.sin(2.0 * phase + 0.5)                                # a little warmth an octave up
    body *= (0.55 * np.exp(-t / 0.7) + 0.45 * np.exp(-t * np.log(1000.0) / ring_s)) * velocity
    return body * envelope(frames, attack_s, release_s)


# --- water -------------------------------------------------------------------------------------------------

def _drop_grain(hz: float, length_s: float, rise: float) -> np.ndarray:
    """One droplet: a Hann-windowed sine gliding up by ``rise`` (a bubble's resonance rises as it closes)."""
    frames = int(length_s * SYNTH_RATE_HZ)
    x = np.arange(frames) / frames
    glide_hz = hz * (1 + (rise - 1) * x ** 1.5)
    return np.sin(2 * np.pi * np.cumsum(glide_hz) / SYNTH_RATE_HZ) * np.hanning(frames)


def _grains(frames: int, rng: np.random.Generator, *, per_s: float, hz: tuple[float, float],
            length_s: tuple[float, float], rise: float, correlation: float) -> np.ndarray:
    """A shower of droplets, stereo: 10 grain shapes, each scattered at random times, levels and places.
    Levels vary by about +-3 dB (log-normal), so no single drop stands out of the shower."""
    out = np.zeros((frames, 2))
    shapes = 10
    for _ in range(shapes):
        grain = _drop_grain(float(np.exp(rng.uniform(*np.log(hz)))), rng.uniform(*length_s), rise)
        count = rng.poisson(per_s * frames / SYNTH_RATE_HZ / shapes)
        at = rng.integers(0, frames, count)
        level = np.exp(rng.normal(0.0, 0.35, count))
        pan = rng.uniform(-1.0, 1.0, count) * (1 - correlation)
        train = np.zeros((frames, 2))
        np.add.at(train, (at, 0), level * np.sqrt((1 - pan) / 2))
        np.add.at(train, (at, 1), level * np.sqrt((1 + pan) / 2))
        out += signal.oaconvolve(train, grain[:, None], axes=0)[:frames]
    return out


def _wide_noise(frames: int, rng: np.random.Generator, shared: float) -> np.ndarray:
    """Stereo white noise whose channels share ``shared`` of their power (0: unrelated, 1: mono)."""
    common = rng.standard_normal(frames)[:, None]
    return np.sqrt(shared) * common + np.sqrt(1 - shared) * rng.standard_normal((frames, 2))


def water_texture(kind: str, frames: int, rng: np.random.Generator, *, drops_per_s: float,
                  cutoff_hz: float) -> np.ndarray:
    """Rain (a soft wash of filtered noise, gusting slowly, with droplets) or a brook (darker, babbling noise
    with bubbles); stereo, mean power about 1."""
    if kind == "rain":
        wash = _wide_noise(frames, rng, 0.35)
        wash = signal.sosfilt(signal.butter(2, (200.0, cutoff_hz), "bandpass", fs=SYNTH_RATE_HZ, output="sos"),
                              wash, axis=0)
        gust = 1 + 0.15 * slow_sine(frames, rng.uniform(25, 45), rng.uniform(0, 6.3)) \
            + 0.08 * slow_sine(frames, rng.uniform(9, 17), rng.uniform(0, 6.3))
        wash *= (gust / np.sqrt(np.mean(wash ** 2)))[:, None]
        drops = _grains(frames, rng, per_s=drops_per_s, hz=(900.0, 2600.0), length_s=(0.02, 0.045), rise=1.5,
                        correlation=0.3)
        return wash + 0.4 * drops / np.sqrt(np.mean(drops ** 2))
    # brook: noise low-passed and shaped by a quick, smooth random "babble" envelope
    flow = _wide_noise(frames, rng, 0.4)
    flow = signal.sosfilt(signal.butter(2, (120.0, cutoff_hz), "bandpass", fs=SYNTH_RATE_HZ, output="sos"),
                          flow, axis=0)
    babble = signal.sosfiltfilt(signal.butter(2, 4.0, fs=SYNTH_RATE_HZ, output="sos"), rng.standard_normal(frames))
    babble = 1 + 0.5 * babble / np.std(babble)
    flow *= (np.clip(babble, 0.2, None) / np.sqrt(np.mean(flow ** 2)))[:, None]
    bubbles = _grains(frames, rng, per_s=drops_per_s, hz=(350.0, 1100.0), length_s=(0.04, 0.09), rise=1.8,
                      correlation=0.3)
    return flow + 0.6 * bubbles / np.sqrt(np.mean(bubbles ** 2))


# --- the room ----------------------------------------------------------------------------------------------

def reverb_ir(rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """A stereo room: noise decaying exponentially, highs dying faster than lows, 25 ms pre-delay.

    Above ~250 Hz each channel has its own noise (a wide, decorrelated tail). Below, both share one:
    independent noise would give every sustained bass note a random L/R phase, sometimes nearly
    opposite, which cancels in mono and presses on the ears in headphones.
    """
    frames = int(rt60_s * SYNTH_RATE_HZ)
    t = np.arange(frames) / SYNTH_RATE_HZ
    bass = signal.butter(2, 250, fs=SYNTH_RATE_HZ, output="sos")
    own = rng.standard_normal((frames, 2))
    noise = signal.sosfilt(bass, rng.standard_normal(frames))[:, None] + own - signal.sosfilt(bass, own, axis=0)
    low = signal.sosfilt(signal.butter(2, 2500, fs=SYNTH_RATE_HZ, output="sos"), noise, axis=0)
    decay = lambda seconds: np.exp(-t * np.log(1000.0) / seconds)[:, None]   # noqa: E731
    ir = low * decay(rt60_s) + 0.4 * (noise - low) * decay(0.35 * rt60_s)
    ir[: int(0.005 * SYNTH_RATE_HZ)] *= raised_cosine(int(0.005 * SYNTH_RATE_HZ))[:, None]
    ir = np.concatenate([np.zeros((int(0.025 * SYNTH_RATE_HZ), 2)), ir])
    freqs_hz = np.fft.rfftfreq(len(ir), 1 / SYNTH_RATE_HZ)
    band = (freqs_hz > 50) & (freqs_hz < 2500)           # unity mean power gain where the music lives
    return ir / np.sqrt(np.mean(np.abs(np.fft.rfft(ir, axis=0)[band]) ** 2, axis=0))
