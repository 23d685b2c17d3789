"""The bundled music and chimes, as shipped: decodable, calm, and at the levels audio/README.md states.

Everything is measured on the files in ``audio/`` decoded with soundfile (as the engine loads short
clips), except a treatment's worth of music, which is read through the engine's own music bus (as
``companion ambient --minutes 60`` plays it) and measured with the independent meter in tests/measure.py.
Whole tracks are never regenerated here: determinism is pinned on a short excerpt.
"""
from __future__ import annotations

import collections
import dataclasses
import importlib
import itertools
import json
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.measure import ShortTermMeter

signal = pytest.importorskip("scipy.signal")
pyloudnorm = pytest.importorskip("pyloudnorm")

ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = ROOT / "audio"
MUSIC_DIR = AUDIO_DIR / "music"
CHIMES_DIR = AUDIO_DIR / "chimes"
MUSIC_MANIFEST = json.loads((MUSIC_DIR / "manifest.json").read_text())
CHIMES_MANIFEST = json.loads((CHIMES_DIR / "manifest.json").read_text())
TRACK_PATHS = sorted(MUSIC_DIR.glob("*.ogg"))
CHIME_PATHS = sorted(CHIMES_DIR.glob("*.ogg"))

RATE_HZ = 48_000
TRUE_PEAK_MAX_DB = -1.0          # measured 4x oversampled
LOUDNESS_TOLERANCE_LU = 1.0      # around the manifest's common target
DC_MAX = 1e-3
HISS_BELOW_DB = 40.0             # energy above 12 kHz at least this far below the total
ONSET_JUMP_MAX_DB = 10.0         # no 10 ms window this far above the mean level of the second before it
EDGES_BELOW_DB = 30.0            # first and last 0.5 s this far under the track's loudness
CHIME_ATTACK_MIN_S = 0.030
CHIME_UNDER_VOICE_LUFS = -24.0   # the voice sits at -20 LUFS; a chime's loudest 3 s stays clearly under it
AUDIO_DIR_MAX_BYTES = 40_000_000
TREATMENT_S = 3600               # the longest treatment the built-in music must fill without a repeat
TRACK_CHANGE_DIP_MAX_LU = 1.5    # short-term (3 s) loudness at a track change, under the music around it
CHARACTERS = ("pads", "keys", "water")
PITCH_SIMILARITY_MAX = 0.95      # cosine of two tracks' pitch profiles (the old set: 0.79-0.97 for every pair)
PITCH_SIMILARITY_MEDIAN_MAX = 0.7
ONSET_MARGIN_DB = 1.0            # the keys' slowest onsets over the fastest rise of any other track
SPECTRUM_MARGIN_WATER = 0.3      # spectral similarity within a character over across, water vs the others
SPECTRUM_MARGIN_TONAL = 0.05     # ... pads vs keys (alike in spectrum, apart in onsets)


@dataclasses.dataclass(frozen=True)
class Decoded:
    path: Path
    audio: np.ndarray            # (frames, channels) float32
    loudness_lufs: float | None = None   # tracks: integrated loudness by pyloudnorm (see decode_and_measure)


def decode(path: Path) -> Decoded:
    audio, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate_hz == RATE_HZ, f"{path.name} decodes at {rate_hz} Hz, expected {RATE_HZ} Hz"
    return Decoded(path, audio)


def decode_and_measure(path: Path) -> Decoded:
    """A track decoded and its integrated loudness measured by pyloudnorm (float32 in, float64 filters):
    the two slow steps, which both let go of the GIL (libsndfile, scipy's lfilter), so they run ahead."""
    decoded = decode(path)
    return dataclasses.replace(decoded, loudness_lufs=pyloudnorm.Meter(RATE_HZ).integrated_loudness(decoded.audio))


_DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode-ahead")
_DECODING: dict[Path, Future] = {}


def _decode_ahead(path: Path) -> Future:
    if path not in _DECODING:
        _DECODING[path] = _DECODER.submit(decode_and_measure, path)
    return _DECODING[path]


@pytest.fixture(scope="module", params=TRACK_PATHS, ids=lambda path: path.stem)
def track(request) -> Decoded:
    """One shipped track, decoded once for all the checks on it (pytest groups tests by this param); its
    pitch/spectrum profile is taken from the same decode and kept for the ``profiles`` fixture, so no
    track is decoded twice. Decoding and the loudness measurement are most of this file's time: the next
    track is decoded and measured on a worker thread while this one is checked, on the other core."""
    decoded = _decode_ahead(request.param).result()
    del _DECODING[request.param]
    following = TRACK_PATHS.index(request.param) + 1
    if following < len(TRACK_PATHS):
        _decode_ahead(TRACK_PATHS[following])
    _PROFILES[decoded.path] = profile(decoded.path, decoded.audio)
    return decoded


@pytest.fixture(scope="module", params=CHIME_PATHS, ids=lambda path: path.stem)
def chime(request) -> Decoded:
    return decode(request.param)


def true_peak_db(audio: np.ndarray) -> float:
    """Peak of the audio oversampled 4x, in dBFS.

    Only the 100 ms blocks whose sample peak is within 2 dB of the loudest sample are oversampled (with
    context either side): inter-sample peaks of audio band-limited well below Nyquist (this music holds
    nothing above ~9 kHz) overshoot the samples by a fraction of a dB, so the true peak lies in one of them.
    That keeps the check to a fraction of a second on a four-minute track instead of several seconds.
    """
    block, context = RATE_HZ // 10, 64
    blocks = len(audio) // block
    block_peaks = np.abs(audio[: blocks * block]).reshape(blocks, -1).max(axis=1)   # frames are interleaved
    peak = float(np.abs(audio).max())
    for index in np.flatnonzero(block_peaks >= peak * 10 ** (-2 / 20)):
        around = audio[max(0, index * block - context):(index + 1) * block + context]
        peak = max(peak, *(np.abs(signal.resample_poly(channel, 4, 1)).max() for channel in around.T))
    return float(20 * np.log10(peak))


def power_db(audio: np.ndarray) -> float:
    """Mean power summed over channels, in dB (unweighted: the quiet ends need no K-weighting)."""
    return float(10 * np.log10(np.mean(audio.astype(np.float64) ** 2) * audio.shape[1] + 1e-20))


# --- music ---------------------------------------------------------------------------------------------

def test_the_manifest_names_exactly_the_tracks_that_ship():
    assert sorted(MUSIC_MANIFEST["tracks"]) == [path.name for path in TRACK_PATHS]


def test_over_an_hour_of_music_in_three_characters_and_several_keys():
    """Durations are the decoded ones (test_track_lasts_three_to_six_minutes pins the manifest to them)."""
    rows = MUSIC_MANIFEST["tracks"].values()
    overlap_s = MUSIC_MANIFEST["fade_s"] * (len(rows) - 1)
    heard_s = sum(row["duration_s"] for row in rows) - overlap_s
    assert heard_s >= TREATMENT_S + 120, f"{heard_s / 60:.1f} min of distinct music, overlaps taken off"
    for character in CHARACTERS:
        mine = [row for row in rows if row["character"] == character]
        assert len(mine) >= 3, f"{len(mine)} {character} tracks"
        assert len({row["key"].split()[0] for row in mine}) >= 3, f"{character}: fewer than 3 keys"
        assert len({row["key"].split(maxsplit=1)[1] for row in mine}) >= 3, f"{character}: fewer than 3 modes"


def test_track_lasts_three_to_six_minutes(track):
    duration_s = len(track.audio) / RATE_HZ
    assert 180 <= duration_s <= 360, f"{track.path.name} lasts {duration_s:.1f} s"
    listed_s = MUSIC_MANIFEST["tracks"][track.path.name]["duration_s"]
    assert duration_s == pytest.approx(listed_s, abs=0.05), "manifest duration is stale"


def test_track_is_wide_stereo_without_opposite_phase(track):
    assert track.audio.shape[1] == 2
    correlation = np.corrcoef(track.audio[::7].T)[0, 1]
    assert 0.1 < correlation < 0.9, (
        f"{track.path.name}: L/R correlation {correlation:.2f}; near 1 is mono, near or under 0 cancels in mono")


def test_track_true_peak_is_at_most_minus_1_dbfs(track):
    peak_db = true_peak_db(track.audio)
    assert peak_db <= TRUE_PEAK_MAX_DB, f"{track.path.name}: true peak {peak_db:.2f} dBFS"


def test_track_loudness_is_the_common_target(track):
    loudness = track.loudness_lufs                  # pyloudnorm's, measured ahead (decode_and_measure)
    target = MUSIC_MANIFEST["target_lufs"]
    assert abs(loudness - target) <= LOUDNESS_TOLERANCE_LU, (
        f"{track.path.name}: {loudness:.2f} LUFS, target {target} +- {LOUDNESS_TOLERANCE_LU} LU")
    listed = MUSIC_MANIFEST["tracks"][track.path.name]["loudness_lufs"]
    assert loudness == pytest.approx(listed, abs=0.1), "manifest loudness is stale"


def test_track_has_no_dc(track):
    dc = np.abs(np.mean(track.audio, axis=0, dtype=np.float64)).max()
    assert dc < DC_MAX, f"{track.path.name}: DC offset {dc:.2e}"


def test_track_has_no_hiss_above_12_khz(track):
    mono = track.audio[:, 0] + track.audio[:, 1]
    freqs_hz, power = signal.welch(mono, RATE_HZ, nperseg=2048, noverlap=0)
    above_db = 10 * np.log10(power[freqs_hz > 12_000].sum() / power.sum())
    assert above_db <= -HISS_BELOW_DB, f"{track.path.name}: {above_db:.1f} dB of its energy above 12 kHz"


def test_track_never_leaps_out(track):
    """No 10 ms window more than ONSET_JUMP_MAX_DB above the mean power of the second before it."""
    window = RATE_HZ // 100
    windows = len(track.audio) // window
    frames = track.audio[: windows * window].reshape(windows, -1)     # L R L R ... per window
    power = np.einsum("ij,ij->i", frames, frames).astype(np.float64) / window + 1e-10   # floor: -100 dB
    running = np.concatenate([[0.0], np.cumsum(power)])
    now = np.arange(100, windows)
    previous_second = (running[now] - running[now - 100]) / 100
    jumps_db = 10 * np.log10(power[now] / previous_second)
    worst = int(np.argmax(jumps_db))
    assert jumps_db[worst] <= ONSET_JUMP_MAX_DB, (
        f"{track.path.name}: +{jumps_db[worst]:.1f} dB at {(now[worst]) / 100:.2f} s")


def test_track_begins_and_ends_quietly(track):
    loudness = MUSIC_MANIFEST["tracks"][track.path.name]["loudness_lufs"]
    half_second = RATE_HZ // 2
    for where, edge in (("first", track.audio[:half_second]), ("last", track.audio[-half_second:])):
        level_db = power_db(edge)
        assert level_db <= loudness - EDGES_BELOW_DB, (
            f"{track.path.name}: {where} 0.5 s at {level_db:.1f} dB, track at {loudness:.1f} LUFS")


# --- chimes --------------------------------------------------------------------------------------------

def test_both_chimes_ship_and_are_listed():
    assert [path.name for path in CHIME_PATHS] == ["bowl-soft.ogg", "bowl.ogg"]
    assert sorted(CHIMES_MANIFEST) == [path.name for path in CHIME_PATHS]


def test_chime_true_peak_is_at_most_minus_1_dbfs(chime):
    assert true_peak_db(chime.audio) <= TRUE_PEAK_MAX_DB


def test_chime_swells_in_rather_than_strikes(chime):
    """Attack: from the first sound (-60 dB re peak) to 90 % of the peak, on a 2 ms RMS envelope."""
    window = RATE_HZ // 500
    frames = len(chime.audio) // window * window
    envelope = np.sqrt((chime.audio[:frames].astype(np.float64) ** 2).mean(axis=1).reshape(-1, window).mean(axis=1))
    begins = np.flatnonzero(envelope > envelope.max() * 1e-3)[0]
    reaches = np.flatnonzero(envelope >= envelope.max() * 0.9)[0]
    attack_s = (reaches - begins) * window / RATE_HZ
    assert attack_s >= CHIME_ATTACK_MIN_S, f"{chime.path.name}: attack {attack_s * 1000:.0f} ms"


def test_chime_stays_clearly_under_the_voice(chime):
    """Loudest 3 s window (gated loudness of the window: the gate can only make it read louder)."""
    meter = pyloudnorm.Meter(RATE_HZ)
    window, hop = 3 * RATE_HZ, RATE_HZ // 4
    audio = chime.audio.astype(np.float64)
    loudest = max(meter.integrated_loudness(audio[start:start + window])
                  for start in range(0, len(audio) - window + 1, hop))
    assert loudest <= CHIME_UNDER_VOICE_LUFS, f"{chime.path.name}: loudest 3 s at {loudest:.1f} LUFS"


# --- the folder and the generator ------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("path", TRACK_PATHS + CHIME_PATHS, ids=lambda path: path.name)
def test_ffmpeg_decodes_it_as_48_khz_stereo(path):
    """The engine streams music through ffmpeg: the first seconds must decode there too, cleanly."""
    result = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-t", "3", "-i", str(path), "-f", "f32le", "-"],
                            capture_output=True, check=False)
    assert result.returncode == 0 and not result.stderr, result.stderr.decode(errors="replace")
    assert len(result.stdout) == 3 * RATE_HZ * 2 * 4, "expected 3 s of 48 kHz stereo float"


def test_audio_folder_stays_under_30_mb():
    total = sum(path.stat().st_size for path in AUDIO_DIR.rglob("*") if path.is_file())
    assert total < AUDIO_DIR_MAX_BYTES, f"audio/ holds {total / 1e6:.1f} MB"


@pytest.fixture(scope="module")
def generators():
    """scripts/make_music.py and make_chimes.py as modules (scripts/ is not a package)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "scripts"))
        yield importlib.import_module("make_music"), importlib.import_module("make_chimes")


def test_music_generator_gives_the_same_samples_for_the_same_seed(generators):
    make_music, _ = generators
    track = make_music.TRACKS[0]
    first = make_music.render(track, duration_s=12.0)
    again = make_music.render(track, duration_s=12.0)
    other = make_music.render(dataclasses.replace(track, seed=track.seed + 1), duration_s=12.0)
    assert first.shape == (12 * RATE_HZ, 2)
    assert np.array_equal(first, again), "same seed, different samples"
    assert not np.allclose(first, other), "a different seed should compose different music"


def test_chime_generator_gives_the_same_samples_for_the_same_seed(generators):
    _, make_chimes = generators
    for bowl in make_chimes.BOWLS:
        assert np.array_equal(make_chimes.synthesise(bowl), make_chimes.synthesise(bowl)), bowl.name


@pytest.mark.parametrize("instrument", ["bell", "pluck", "glass", "flute"])
def test_every_melody_instrument_swells_in_over_at_least_50_ms(generators, instrument):
    """From the first sound (-60 dB re peak) to 90 % of the peak, on 1 ms peak blocks."""
    make_music, _ = generators
    tone = np.abs(make_music.melody_note(instrument, 440.0, 2.0, np.random.default_rng(0)))
    block = make_music.SYNTH_RATE_HZ // 1000
    envelope = tone[: len(tone) // block * block].reshape(-1, block).max(axis=1)
    attack_ms = np.argmax(envelope >= 0.9 * envelope.max()) - np.argmax(envelope > 1e-3 * envelope.max())
    assert attack_ms >= 50, f"{instrument}: attack {attack_ms} ms"


# --- a treatment's worth of music, through the engine's music bus ------------------------------------------

CONTEXT_S = 30                   # music measured either side of a track change


@dataclasses.dataclass(frozen=True)
class TrackChange:
    into: str                    # the track that comes in
    at_s: int                    # the second MusicStream.current switched (the overlap starts about then)
    short_term_lufs: np.ndarray  # every 100 ms from at_s - CONTEXT_S - 5 s: the 3 s window starting there


@dataclasses.dataclass(frozen=True)
class Hour:
    playing: list[str]           # the track playing in each second (MusicStream.current)
    changes: list[TrackChange]


@pytest.fixture(scope="module")
def hour_of_ambient_music() -> Hour:
    """An hour of the music bus exactly as ``companion ambient --minutes 60`` builds it (seed 0), read
    second by second: which track plays, and around each track change the short-term loudness of what
    comes out (an independent K-weighting meter, not the engine's; only there, to keep the test quick).

    MusicStream.current switches when the overlap is prepared, one read (1 s) ahead of it.
    """
    from companion.mix.assemble import build_ambient_session

    session = build_ambient_session(minutes=TREATMENT_S / 60, seed=0)
    stream = session.mixer.music
    before_s = CONTEXT_S + 5
    after_s = int(MUSIC_MANIFEST["fade_s"]) + CONTEXT_S + 5
    recent: collections.deque[np.ndarray] = collections.deque(maxlen=before_s)
    playing: list[str] = []
    changes: list[TrackChange] = []
    metering: tuple[str, int, ShortTermMeter] | None = None
    try:
        for second in range(TREATMENT_S):
            block = stream.read(RATE_HZ)
            recent.append(block)
            playing.append(stream.current.name)
            if second and playing[-1] != playing[-2] and second + after_s <= TREATMENT_S and metering is None:
                metering = (playing[-1], second, ShortTermMeter())
                for earlier in recent:
                    metering[2].add(earlier)
            elif metering is not None:
                metering[2].add(block)
                if second == metering[1] + after_s:
                    changes.append(TrackChange(metering[0], metering[1], metering[2].lufs()))
                    metering = None
    finally:
        stream.close()
    return Hour(playing, changes)


def test_an_hour_long_ambient_session_never_repeats_a_track(hour_of_ambient_music):
    playing = hour_of_ambient_music.playing
    runs = [name for second, name in enumerate(playing) if second == 0 or playing[second - 1] != name]
    assert len(runs) == len(set(runs)), f"a track came back within the hour: {runs}"
    assert len(runs) >= 12, f"only {len(runs)} tracks in an hour: {runs}"


def test_track_changes_do_not_dip_in_loudness(hour_of_ambient_music):
    """Where the two tracks overlap, short-term (3 s) loudness stays within TRACK_CHANGE_DIP_MAX_LU of the
    music around it: the mean of the windows centred within 3 s of the overlap's middle (where a crossfade
    dip is deepest) against the mean of the 30 s before and the 30 s after the overlap.

    Means, because the music itself moves: the single quietest window of any 16 s stretch lies 0.1-3.6 LU
    under the minute around it even where no track changes (measured on this set).
    """
    fade_s = MUSIC_MANIFEST["fade_s"]
    dips = []
    for change in hour_of_ambient_music.changes:
        lufs = change.short_term_lufs
        at = (CONTEXT_S + 5) * 10                      # index of the switch
        before = lufs[at - (CONTEXT_S + 3) * 10: at - 3 * 10]
        after = lufs[at + int((fade_s + 2) * 10): at + int((fade_s + 2 + CONTEXT_S) * 10)]
        around = (before.mean() + after.mean()) / 2
        middle = at + int(fade_s / 2 * 10)              # the window centred there starts 1.5 s earlier
        dip = around - lufs[middle - 45: middle + 16].mean()
        dips.append((round(dip, 2), change.into, change.at_s))
    assert len(dips) >= 10, f"only {len(dips)} track changes measured"
    worst = max(dips)
    assert worst[0] <= TRACK_CHANGE_DIP_MAX_LU, (
        f"{worst[0]} LU dip at {worst[2]} s (into {worst[1]}); worst five: {sorted(dips, reverse=True)[:5]}")


# --- how different the tracks are ----------------------------------------------------------------------------

EXCERPT_S = 90.0                 # from the middle of each track: past the fades, long enough for its harmony


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    character: str
    chroma: np.ndarray           # power per pitch class C..B, unit length
    bands_db: np.ndarray         # third-octave band levels 50 Hz - 10 kHz, dB re the total
    onset_rise_db: float         # 99th percentile of the 0.6-2.4 kHz level's rise over 100 ms


def profile(path: Path, decoded: np.ndarray) -> Profile:
    """Pitch profile, spectrum and onsets of the middle EXCERPT_S of a track (mono sum), from the whole
    track ``decoded`` (float32 as sf.read gives it: the same samples a float64 read gives, widened)."""
    start = max(0, (len(decoded) - int(EXCERPT_S * RATE_HZ)) // 2)
    audio = decoded[start: start + int(EXCERPT_S * RATE_HZ)].astype(np.float64)
    mono = audio.sum(axis=1)
    freqs_hz, _, spectrum = signal.stft(mono, RATE_HZ, nperseg=16384, noverlap=8192)   # 2.9 Hz bins
    power = (np.abs(spectrum) ** 2).mean(axis=1)
    tonal = (freqs_hz > 60) & (freqs_hz < 5000)
    pitch_class = np.round(69 + 12 * np.log2(freqs_hz[tonal] / 440.0)).astype(int) % 12
    chroma = np.bincount(pitch_class, weights=power[tonal], minlength=12)
    edges_hz = 50 * 2 ** (np.arange(24) / 3)
    bands = np.array([power[(freqs_hz >= lo) & (freqs_hz < hi)].sum() for lo, hi in zip(edges_hz[:-1], edges_hz[1:])])
    mid = signal.sosfilt(signal.butter(2, (600, 2400), "bandpass", fs=RATE_HZ, output="sos"), mono)
    hop = RATE_HZ // 20                                                  # 50 ms
    level_db = 10 * np.log10((mid[: len(mid) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1) + 1e-12)
    row = MUSIC_MANIFEST["tracks"][path.name]
    return Profile(path.stem, row["character"], chroma / np.linalg.norm(chroma),
                   10 * np.log10(bands / power.sum() + 1e-12), float(np.percentile(level_db[2:] - level_db[:-2], 99)))


def pitch_similarity(a: Profile, b: Profile) -> float:
    """Cosine of the two pitch profiles: 1 is the same notes in the same proportions."""
    return float(a.chroma @ b.chroma)


def spectral_similarity(a: Profile, b: Profile) -> float:
    """Correlation of the two band-level curves (dB): 1 is the same spectral shape."""
    return float(np.corrcoef(a.bands_db, b.bands_db)[0, 1])


_PROFILES: dict[Path, Profile] = {}     # filled by the ``track`` fixture as each track is decoded


@pytest.fixture(scope="module")
def profiles() -> list[Profile]:
    """Every track's profile: those the per-track checks already took, the rest (when only these tests
    run) from a decode of their own."""
    return [_PROFILES.get(path) or profile(path, decode(path).audio) for path in TRACK_PATHS]


def _mean_similarity(profiles: list[Profile], first: str, second: str) -> float:
    return float(np.mean([spectral_similarity(a, b) for a in profiles for b in profiles
                          if a is not b and a.character == first and b.character == second]))


def test_no_two_tracks_share_a_pitch_profile(profiles):
    """The old set (one pentatonic scale for all) measured 0.79-0.97 between every pair."""
    pairs = [(pitch_similarity(a, b), a.name, b.name) for i, a in enumerate(profiles) for b in profiles[i + 1:]]
    assert max(pairs)[0] <= PITCH_SIMILARITY_MAX, f"pitch profiles alike: {max(pairs)}"
    median = float(np.median([similarity for similarity, _, _ in pairs]))
    assert median <= PITCH_SIMILARITY_MEDIAN_MAX, f"median pitch similarity {median:.2f}"


def test_the_three_characters_are_clearly_apart(profiles):
    """The keys strike notes (gently) where the pads swell and the water flows: their mid-band level
    rises faster than any other track's. The water's spectrum (noise) is unlike the tonal characters'."""
    keys = [p.onset_rise_db for p in profiles if p.character == "keys"]
    rest = [(p.onset_rise_db, p.name) for p in profiles if p.character != "keys"]
    assert min(keys) >= max(rest)[0] + ONSET_MARGIN_DB, (
        f"keys rise by {min(keys):.1f} dB per 100 ms at least, {max(rest)[1]} by {max(rest)[0]:.1f} dB")
    within = {c: _mean_similarity(profiles, c, c) for c in CHARACTERS}
    for first, second in itertools.combinations(CHARACTERS, 2):
        across = _mean_similarity(profiles, first, second)
        gap = min(within[first], within[second]) - across
        needed = SPECTRUM_MARGIN_WATER if "water" in (first, second) else SPECTRUM_MARGIN_TONAL
        assert gap >= needed, (
            f"{first} vs {second}: spectra {across:.2f} alike across, {within[first]:.2f} / {within[second]:.2f} within")
