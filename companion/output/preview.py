"""Play a few short clips on the device, one after another: the voice samples of ``companion voices --play``.

Not a session (no music, no keys): each clip is decoded whole (a few seconds), given 20 ms raised-cosine
edges and 0.4 s of silence after it, and played with PortAudio's blocking helper. A missing device is the
usual ``DeviceError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from companion import dsp
from companion.media.decode import load_clip
from companion.output.device import OutputDevice, preferred_rate_hz, sounddevice_module

GAP_S = 0.4
EDGE_S = 0.02


def play_clips(paths: Sequence[Path], device: OutputDevice) -> None:
    sd = sounddevice_module()
    rate_hz = preferred_rate_hz(device)
    for path in paths:
        audio = dsp.edge_fades(load_clip(path, rate_hz), rate_hz, fade_s=EDGE_S)
        padded = np.concatenate([audio, np.zeros((int(GAP_S * rate_hz), audio.shape[1]), np.float32)])
        try:
            sd.play(padded, rate_hz, device=device.index, blocking=True)
        except sd.PortAudioError as err:
            from companion.errors import DeviceError

            raise DeviceError(f"the sound device failed ({err})") from err
