"""The scores of companion's bundled music: scales and modes, chord progressions, and the notes of each track.

``make_music.py`` renders what ``compose(track, duration_s)`` returns. Three characters share one harmonic
language (chords stacked in thirds of the track's own scale, each voice moving to the nearest chord tone):

- ``pads``:  overlapping sustained chords (16-32 s each), a bass, and sparse melodic phrases on top;
- ``keys``:  a soft electric piano: a bass note per chord, then a slow broken chord, now and then a short
  melodic phrase; no pad underneath;
- ``water``: a quiet two-voice drone under rain or a brook (the water itself is a texture, not notes: see
  ``music_voices.water_texture``), with rare glass notes.

Everything is drawn from ``numpy.random.default_rng(track.seed)``: the same track gives the same score.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

A4_HZ = 440.0               # concert pitch; every pitch is 12-tone equal temperament from it
PITCH_CLASS = {"C": 0, "C#": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "Ab": 8,
               "A": 9, "A#": 10, "Bb": 10, "B": 11}
MODES = {                   # semitones above the tonic
    "major pentatonic": (0, 2, 4, 7, 9),
    "minor pentatonic": (0, 3, 5, 7, 10),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
}
# Chord roots (scale degrees) each mode moves between, with weights; diminished triads are left out, and
# the tonic comes back often so the key stays clear.
PROGRESSIONS = {
    "major pentatonic": ((0, 1, 2, 3, 4), (4, 1, 1, 2, 2)),
    "minor pentatonic": ((0, 1, 2, 3, 4), (4, 2, 1, 2, 1)),
    "ionian": ((0, 3, 5, 1, 4), (4, 3, 2, 1, 1)),
    "dorian": ((0, 3, 6, 2), (4, 3, 2, 1)),
    "lydian": ((0, 1, 4, 5), (4, 3, 1, 2)),
    "mixolydian": ((0, 6, 3, 1), (4, 3, 2, 1)),
    "aeolian": ((0, 5, 6, 3, 2), (4, 3, 2, 2, 1)),
}
CHARACTERS = ("pads", "keys", "water")


@dataclass(frozen=True)
class Scale:
    tonic: str               # pitch name, e.g. "F#"
    mode: str                # a key of MODES

    @property
    def size(self) -> int:
        return len(MODES[self.mode])

    def midi(self, step: int) -> int:
        """MIDI number of scale step ``step``: 0 is the tonic in octave -1 (MIDI 0-11), ``size`` an octave up."""
        octave, degree = divmod(step, self.size)
        return 12 * octave + PITCH_CLASS[self.tonic] + MODES[self.mode][degree]

    def hz(self, step: int) -> float:
        return A4_HZ * 2.0 ** ((self.midi(step) - 69) / 12.0)

    def step_at(self, midi: int) -> int:
        """The lowest step at or above MIDI note ``midi``."""
        step = (midi // 12 - 1) * self.size
        while self.midi(step) < midi:
            step += 1
        return step

    def pitch_classes(self) -> set[int]:
        return {(PITCH_CLASS[self.tonic] + i) % 12 for i in MODES[self.mode]}


@dataclass(frozen=True)
class Track:
    name: str                          # file stem
    title: str
    seed: int
    duration_s: float
    character: str                     # one of CHARACTERS
    tonic: str
    mode: str
    chord_s: tuple[float, float]       # how long one chord lasts, range
    reverb_s: float                    # RT60 of the room
    brightness: float = 0.4            # pads: how far the slow filter sweep opens; keys: FM index scale
    melody: str = "none"               # "bell", "flute", "pluck", "glass" or "none"
    melody_gap_s: tuple[float, float] = (10.0, 20.0)   # silence between melodic phrases, range
    note_gap_s: tuple[float, float] = (0.8, 1.6)        # keys: time between the notes of a broken chord
    water: str = "rain"                # water: "rain" or "brook"
    drops_per_s: float = 12.0          # water: droplets (or bubbles) a second
    water_cutoff_hz: float = 3500.0    # water: where the wash of the rain rolls off (lower is darker)

    @property
    def scale(self) -> Scale:
        return Scale(self.tonic, self.mode)


@dataclass(frozen=True)
class Note:
    kind: str            # "pad", "drone", "epiano" or a melody instrument
    start_s: float
    length_s: float
    hz: float
    pan: float           # -1 (left) .. 1 (right)
    gain: float


def compose(track: Track, duration_s: float) -> list[Note]:
    """The notes of ``track`` cut to ``duration_s`` (the texture of water tracks is not notes)."""
    rng = np.random.default_rng(track.seed)
    composer = {"pads": _compose_pads, "keys": _compose_keys, "water": _compose_water}[track.character]
    return composer(track, duration_s, rng)


# --- harmony ---------------------------------------------------------------------------------------------

def chord_degrees(scale: Scale, root: int, *, seventh: bool = False) -> set[int]:
    """Degrees (mod the scale size) of the chord stacked in thirds of the scale on ``root``."""
    offsets = (0, 2, 4, 6) if seventh else (0, 2, 4)
    return {(root + o) % scale.size for o in offsets}


def next_root(track: Track, root: int, rng: np.random.Generator) -> int:
    roots, weights = PROGRESSIONS[track.mode]
    choices = [(r, w) for r, w in zip(roots, weights) if r != root]
    p = np.array([w for _, w in choices], dtype=float)
    return int(choices[int(rng.choice(len(choices), p=p / p.sum()))][0])


def voice_chord(scale: Scale, degrees: set[int], previous: list[int], *, low_midi: int, high_midi: int,
                rng: np.random.Generator) -> list[int]:
    """Three distinct chord tones (scale steps) in range, as near the previous voices as possible."""
    low, high = scale.step_at(low_midi), scale.step_at(high_midi)
    tones = [s for s in range(low, high + 1) if s % scale.size in degrees]
    best, best_cost = previous, float("inf")
    for combo in itertools.combinations(tones, 3):
        if len({s % scale.size for s in combo}) < 2 or min(np.diff(combo)) < 2:
            continue                                   # no unisons-in-all-but-name, no seconds
        cost = sum(abs(a - b) for a, b in zip(combo, previous)) + rng.uniform(0, 0.5)
        if cost < best_cost:
            best, best_cost = list(combo), cost
    return best


def _phrase(track: Track, start_s: float, step: int, rng: np.random.Generator, *, low: int, high: int,
            kind: str, hold_s: tuple[float, float], gap_s: tuple[float, float]) -> tuple[list[Note], float, int]:
    """A short, mostly stepwise phrase of 2-5 notes from ``step``; returns the notes, the end time, the last step."""
    notes, t_s = [], start_s
    for _ in range(int(rng.integers(2, 6))):
        step = int(np.clip(step + rng.choice([-2, -1, -1, 1, 1, 2]), low, high))
        length_s = rng.uniform(*hold_s)
        notes.append(Note(kind, t_s, length_s, track.scale.hz(step), rng.uniform(-0.4, 0.4), rng.uniform(0.7, 1.0)))
        t_s += length_s + rng.uniform(*gap_s)
    return notes, t_s, step


# --- the three characters ----------------------------------------------------------------------------------

def _chords(track: Track, duration_s: float, rng: np.random.Generator, start_s: float) -> Iterator[tuple[float, float, int]]:
    """(start, length, root degree) of each chord from ``start_s`` on; the last ones return to the tonic."""
    root = 0
    while start_s < duration_s:
        length_s = rng.uniform(*track.chord_s)
        yield start_s, length_s, root
        root = next_root(track, root, rng) if start_s + length_s < duration_s - 30 else 0
        start_s += length_s


def _compose_pads(track: Track, duration_s: float, rng: np.random.Generator) -> list[Note]:
    scale = track.scale
    notes: list[Note] = []
    upper = [scale.step_at(57), scale.step_at(62), scale.step_at(66)]
    # from -6 s: in bloom at 0 s, so the fade alone shapes the start
    for start_s, length_s, root in _chords(track, duration_s, rng, -6.0):
        degrees = chord_degrees(scale, root)
        upper = voice_chord(scale, degrees, upper, low_midi=50, high_midi=72, rng=rng)
        bass = scale.step_at(38) + (root - scale.step_at(38)) % scale.size     # the root, D2..C#3
        notes.append(Note("pad", start_s, length_s + 8.0, scale.hz(bass), rng.uniform(-0.1, 0.1), 0.4))
        notes += [Note("pad", start_s, length_s + 8.0, scale.hz(s), rng.uniform(-0.5, 0.5), 0.35) for s in upper]
    if track.melody != "none":
        notes += _melody(track, duration_s, rng, low_midi=64, high_midi=81)
    return notes


def _melody(track: Track, duration_s: float, rng: np.random.Generator, *, low_midi: int,
            high_midi: int) -> list[Note]:
    """Sparse phrases with long rests, kept away from the track's fades."""
    notes: list[Note] = []
    margin_s = min(18.0, 0.15 * duration_s)
    low, high = track.scale.step_at(low_midi), track.scale.step_at(high_midi)
    t_s, step = margin_s + rng.uniform(0, 6), (low + high) // 2
    while t_s < duration_s - margin_s - 6.0:
        phrase, t_s, step = _phrase(track, t_s, step, rng, low=low, high=high, kind=track.melody,
                                    hold_s=(1.5, 3.0), gap_s=(0.4, 2.0))
        notes += phrase
        t_s += rng.uniform(*track.melody_gap_s)
    return notes


def _compose_keys(track: Track, duration_s: float, rng: np.random.Generator) -> list[Note]:
    """Per chord: a low root, then chord tones rising and falling at an unhurried, uneven pace."""
    scale = track.scale
    notes: list[Note] = []
    upper = [scale.step_at(55), scale.step_at(60), scale.step_at(64)]
    # from -4 s: already playing at 0 s, so the fade alone shapes the start
    for t_s, length_s, root in _chords(track, duration_s, rng, -4.0):
        seventh = rng.uniform() < 0.5
        degrees = chord_degrees(scale, root, seventh=seventh)
        upper = voice_chord(scale, degrees, upper, low_midi=53, high_midi=72, rng=rng)
        bass = scale.step_at(36) + (root - scale.step_at(36)) % scale.size     # the root, C2..B2
        notes.append(Note("epiano", t_s, length_s + 1.5, scale.hz(bass), rng.uniform(-0.15, 0.15), 0.65))
        tones = [s for s in range(upper[0], scale.step_at(79)) if s % scale.size in degrees]
        rising = upper + [s for s in tones if s > upper[-1]][:int(rng.integers(1, 3))]
        pattern = rising + rising[-2:0:-1]                   # up, then back down, and round again
        at_s = t_s + rng.uniform(0.6, 1.4)
        for step in itertools.islice(itertools.cycle(pattern), 64):
            if at_s > t_s + length_s - 0.6:
                break
            notes.append(Note("epiano", at_s, t_s + length_s + 1.0 - at_s, scale.hz(step), rng.uniform(-0.5, 0.5),
                              rng.uniform(0.45, 0.75)))
            at_s += rng.uniform(*track.note_gap_s)
        if rng.uniform() < 0.35 and at_s < t_s + length_s - 3.0 and 20.0 < t_s < duration_s - 30.0:
            high = scale.step_at(81)
            phrase, _, _ = _phrase(track, at_s, high - 3, rng, low=high - 6, high=high, kind="epiano",
                                   hold_s=(0.9, 1.6), gap_s=(0.1, 0.5))
            notes += [note for note in phrase if note.start_s < t_s + length_s - 0.5]
    return notes


def _compose_water(track: Track, duration_s: float, rng: np.random.Generator) -> list[Note]:
    """A soft drone (root and fifth or third, slowly changing) for the water to fall on; rare glass notes."""
    scale = track.scale
    notes: list[Note] = []
    root, start_s = 0, -8.0
    while start_s < duration_s:
        length_s = rng.uniform(*track.chord_s)
        bass = scale.step_at(43) + (root - scale.step_at(43)) % scale.size
        for step, gain in ((bass, 0.5), (bass + 2 + 2 * int(rng.uniform() < 0.6), 0.35), (bass + scale.size, 0.25)):
            notes.append(Note("drone", start_s, length_s + 10.0, scale.hz(step), rng.uniform(-0.3, 0.3), gain))
        root = 0 if root != 0 or start_s + length_s > duration_s - 40 else next_root(track, root, rng)
        start_s += length_s
    if track.melody != "none":
        notes += _melody(track, duration_s, rng, low_midi=69, high_midi=84)
    return notes
