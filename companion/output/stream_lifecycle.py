"""Opening, closing and reopening the PortAudio stream of a live player (companion.output.stream.Player).

Two reasons to reopen while a session plays, both without losing its place (the ring is untouched):
the device was lost (retry the default device every second, resume faded in), or the sound kept breaking
up and the buffer grows once (companion.output.buffer_growth: fade out, reopen larger, fade in).
"""

from __future__ import annotations

import logging
import os
import time

from companion import CHANNELS
from companion.errors import DeviceError
from companion.output.buffer_growth import GROWN_BUFFER_S
from companion.output.device import sounddevice_module

log = logging.getLogger("companion")

RETRY_EVERY_S = 1.0       # device lost: how often the default device is tried again
RETRY_FOR_S = float(os.environ.get("COMPANION_DEVICE_RETRY_S", "120"))  # ... and for how long before giving up
                          # (the environment variable lets a test see a device that never comes back)


class StreamLifecycle:
    """The Player's stream handling (a mixin: it uses the player's callback, flags and figures)."""

    def _open_stream(self, device_index: int | None) -> None:
        sd = sounddevice_module()
        self._stream_failed.clear()
        stream = sd.OutputStream(samplerate=self.rate_hz, blocksize=self.block_frames, device=device_index,
                                 channels=CHANNELS, dtype="float32", latency=self.latency_s,
                                 callback=self._callback, finished_callback=self._stream_finished)
        self._callback_tid = None                   # a reopened stream calls back on a thread of its own
        stream.start()
        self._stream = stream
        self.latency_s = float(stream.latency)      # what the device gave, not what was asked
        self.tail_blocks = self._blocks_for(self.latency_s + 0.1) + 1

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort() if self._stream_failed.is_set() else stream.stop()
                stream.close()
            except Exception as err:  # noqa: BLE001 - closing a broken stream may fail too; nothing to do
                log.debug("closing the stream failed: %s", err)

    def _recover(self, why: str) -> None:
        """The device failed: pause (the ring keeps its place), retry the default device, resume."""
        self.result.device_errors.append(why)
        self._say(f"The sound device stopped ({why}). Paused; retrying the default sound device ...")
        self._close_stream()
        sd = sounddevice_module()
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                sd._terminate()          # re-enumerate: the device list is read once per initialisation
                sd._initialize()
                self._ramp_next = True
                self._open_stream(None)
                self._say("Resumed on the default sound device.")
                return
            except Exception as err:  # noqa: BLE001 - any PortAudio failure: wait and try again
                if self._interrupts:          # Ctrl-C while waiting: nothing is playing, just end
                    self._stop_now()
                    self._abort_faded = True
                    return
                if time.monotonic() > deadline:
                    raise DeviceError(f"the sound device stopped and none came back ({err})") from err
                time.sleep(RETRY_EVERY_S)

    def _grow_buffer(self) -> None:
        """Reopen the stream with the larger buffer (companion.output.buffer_growth): the block being sent
        fades out, the ring keeps its place, and the new stream fades in where the old one stopped."""
        was_ms = self.latency_s * 1000
        self.result.grown_at_underflows = self._device_underflows
        self._hold_next = True
        deadline = time.monotonic() + 0.5
        while not self._held and time.monotonic() < deadline:
            time.sleep(0.005)
        self._close_stream()
        self.latency_s = max(GROWN_BUFFER_S, self.latency_s)
        self._held = self._hold_next = False
        self._ramp_next = True
        try:
            self._open_stream(self.device.index)
        except Exception as err:  # noqa: BLE001 - handled like a lost device
            self._recover(f"it refused a larger buffer: {err}")
        self._say(f"The sound kept breaking up, so the sound device buffer is now {self.latency_s * 1000:.0f} ms "
                  f"(was {was_ms:.0f} ms); keys answer that much later.")
