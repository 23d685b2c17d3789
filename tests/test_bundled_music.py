"""The bundled music and chimes, as shipped: decodable, calm, and at the levels audio/README.md states.

Everything is measured on the files in ``audio/`` decoded with soundfile (as the engine loads short
clips). Whole tracks are never regenerated here: determinism is pinned on a short excerpt.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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
AUDIO_DIR_MAX_BYTES = 30_000_000


@dataclasses.dataclass(frozen=True)
class Decoded:
    path: Path
    audio: np.ndarray            # (frames, channels) float32


def decode(path: Path) -> Decoded:
    audio, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate_hz == RATE_HZ, f"{path.name} decodes at {rate_hz} Hz, expected {RATE_HZ} Hz"
    return Decoded(path, audio)


@pytest.fixture(scope="module", params=TRACK_PATHS, ids=lambda path: path.stem)
def track(request) -> Decoded:
    """One shipped track, decoded once for all the checks on it (pytest groups tests by this param)."""
    return decode(request.param)


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

def test_at_least_five_tracks_ship_and_the_manifest_names_exactly_them():
    assert len(TRACK_PATHS) >= 5, f"only {len(TRACK_PATHS)} tracks in {MUSIC_DIR}"
    assert sorted(MUSIC_MANIFEST["tracks"]) == [path.name for path in TRACK_PATHS]


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
    loudness = pyloudnorm.Meter(RATE_HZ).integrated_loudness(track.audio)   # float32 in, float64 filters
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
