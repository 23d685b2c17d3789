"""Pack -> install -> ``companion play NAME`` on the virtual sound device: what the room hears of the
narration is the therapist's recorded clip (after its levelling), judged by cross-correlation and the
residual after the best gain (scipy/numpy, not companion's meter)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyloudnorm
import soundfile as sf

from companion.studio import takes
from tests.studio_signals import LINE, RATE_HZ, heard_as, spoken, take

COMPANION = os.path.join(os.path.dirname(sys.executable), "companion")
ROUTINE = """# the therapist's words, in her voice
name = "Voice only"
[session]
music = "none"
fade_in_s = 5
fade_out_s = 15
[[steps]]
id = "settle"
title = "Settle"
lines = [{ text = "%s", clip = "clips/settle-1.flac" }]  # recorded
hold = 0
""" % LINE


def test_a_packed_routine_installs_and_plays_by_name_with_the_recorded_voice(virtual_sound, tmp_path):
    env = {**os.environ, **virtual_sound.env, "COMPANION_DATA_DIR": str(tmp_path / "data"),
           "COMPANION_CACHE_DIR": str(tmp_path / "cache"), "COMPANION_CONFIG_DIR": str(tmp_path / "config"),
           "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cleaned = takes.clean_take(takes.segment_from_samples(take(spoken(), rumble=0.05), RATE_HZ), LINE)
    clip_path = takes.write_flac(cleaned.segment, tmp_path / "therapist" / "clips" / "settle-1.flac")
    (tmp_path / "therapist" / "voice.toml").write_text(ROUTINE, encoding="utf-8")
    pack = tmp_path / "voice-only.companion.zip"
    for args in (["pack", str(tmp_path / "therapist" / "voice.toml"), "-o", str(pack), "--author", "Ada"],
                 ["routines", "install", str(pack)]):
        done = subprocess.run([COMPANION, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    clip, _ = sf.read(str(clip_path), dtype="float64")

    with virtual_sound.record("room") as recording:
        proc = subprocess.Popen([COMPANION, "play", "voice-only", "--device", "companion_room", "--no-keys"],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        first = proc.stdout.readline()          # "[0:00] step 1/1 Settle" as the session starts
        time.sleep(8.0)                         # lead-in ~3.7 s, then the line (~3.4 s)
        proc.send_signal(signal.SIGINT)
        output = first.decode(errors="replace") + proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 130, output
    assert "step 1/1 Settle" in output, output
    heard = recording.samples()[:, 0].astype(np.float64)
    residual_db, gain_db = heard_as(heard, clip)
    assert residual_db < -30.0, f"the narration heard differs from the clip: residual {residual_db:.1f} dB"
    # A voice-only session puts its speech at the session's loudness (-20 LUFS). The mono clip, played the
    # same on both channels, measures 3.01 dB louder than on its own (BS.1770 sums the channels' power).
    clip_lufs = pyloudnorm.Meter(RATE_HZ).integrated_loudness(clip)
    expected_db = -20.0 - (clip_lufs + 10 * np.log10(2))
    assert abs(gain_db - expected_db) < 1.0, \
        f"the clip plays {gain_db:+.2f} dB, expected {expected_db:+.2f} dB (to sit at the session's -20 LUFS)"
