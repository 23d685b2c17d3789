"""The check-in's spoken question (``output.preview``): as loud as the session's voice and never over its
ceiling, and stopped by a key with a fade, not a click, on the virtual sound device."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pyloudnorm
import pytest

from companion.narration.voices import CHECK_IN_PHRASES
from companion.narration.voicing import shipped_clip
from companion.output.preview import prompt_clip
from tests import measure

RATE_HZ = 48_000


@pytest.mark.parametrize("voice", ["heart", "joe"])
def test_a_question_is_as_loud_as_the_sessions_voice_and_never_over_its_ceiling(voice):
    path = shipped_clip(CHECK_IN_PHRASES["tension"], voice)
    assert path is not None, f"the tension question is shipped in {voice}"
    meter = pyloudnorm.Meter(RATE_HZ)
    at_level = prompt_clip(path, RATE_HZ, voice_lufs=-26.0, gain_db=-4.0)
    assert meter.integrated_loudness(at_level.astype(np.float64)) == pytest.approx(-30.0, abs=0.5), \
        "voice level -26 LUFS, then volume and balance -4 dB"
    pushed = prompt_clip(path, RATE_HZ, voice_lufs=-10.0, gain_db=12.0)
    assert measure.true_peak_db(pushed) <= -1.0, "a volume a user can type never takes it over -1 dBFS"
    assert np.isfinite(pushed).all()


HUSHED_PROMPT = textwrap.dedent("""
    import time, numpy as np
    from companion.output.device import resolve_device
    from companion.output.preview import SpokenPrompt
    t = np.arange(2 * 48000) / 48000
    tone = np.repeat((0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None], 2, axis=1)
    tone[:480] *= np.linspace(0, 1, 480, dtype=np.float32)[:, None]
    with SpokenPrompt(resolve_device("companion_room"), 48000) as prompt:
        prompt.say(tone)
        time.sleep(0.6)
        prompt.hush()                   # what a key press does
        time.sleep(0.3)
""")


def test_a_key_stops_the_question_with_a_fade_not_a_click(virtual_sound):
    with virtual_sound.record("room") as recording:
        subprocess.run([sys.executable, "-c", HUSHED_PROMPT], env={**os.environ, **virtual_sound.env},
                       check=True, timeout=60)
    left = recording.samples()[:, 0].astype(np.float64)
    cycle = RATE_HZ // 440 + 1
    envelope = np.array([np.abs(left[i:i + cycle]).max() for i in range(0, len(left) - cycle, cycle // 4)])
    step_s = (cycle // 4) / RATE_HZ
    sounding = np.flatnonzero(envelope > 0.01 * 0.25)
    assert len(sounding), "the question was heard"
    full = np.flatnonzero(envelope >= 0.97 * 0.25)
    heard_s = (sounding[-1] - sounding[0]) * step_s
    assert 0.5 < heard_s < 1.2, f"stopped by the key 0.6 s into a 2 s question: heard {heard_s:.2f} s"
    fade_s = (sounding[-1] - full[-1]) * step_s
    assert fade_s >= 0.02, f"the voice stops with a ramp of {fade_s * 1000:.0f} ms (>= 20 ms), not a click"
    assert fade_s <= 0.08, f"and promptly: {fade_s * 1000:.0f} ms"
    assert np.abs(left[sounding[-1] * (cycle // 4) + 2 * cycle:]).max() < 1e-4, "silent after it"
