"""Growing the device buffer once when the sound keeps breaking up.

The default device buffer is small (42.7 ms) so that keys are heard within ~0.1 s. On a machine so busy
that the sound server itself is starved (measured: 47 dropouts in 120 s at load 17 on 2 cores; none on a
quiet machine), only a larger buffer prevents dropouts. Rather than ask every person to find
``COMPANION_DEVICE_BUFFER_MS``, the player grows the buffer once, to ``GROWN_BUFFER_S``, after
``GROW_AFTER`` dropouts within ``WITHIN_S``, and says so (keys then answer ~150 ms later). It never grows a
buffer the person chose, and never shrinks it again during the session.
"""

from __future__ import annotations

from collections import deque

GROW_AFTER = 5          # device underflows ...
WITHIN_S = 30.0         # ... within this long
GROWN_BUFFER_S = 0.2    # what the buffer grows to (PortAudio gives 192 ms through ALSA's pulse plugin): keys
                        # answer in ~0.25 s; 85 ms halved the dropouts at load 11, 300 ms left none at 23


class UnderflowWatch:
    """Fed the running count of device underflows; says once when the buffer should grow."""

    def __init__(self, *, after: int = GROW_AFTER, within_s: float = WITHIN_S, enabled: bool = True) -> None:
        self.after = after
        self.within_s = within_s
        self.fired = not enabled
        self._seen = 0
        self._times: deque[float] = deque()

    def should_grow(self, count: int, now_s: float) -> bool:
        """``count``: device underflows so far; ``now_s``: a monotonic clock. True once: when ``after`` of
        them came within ``within_s`` seconds."""
        if count > self._seen:
            self._times.extend([now_s] * (count - self._seen))
            self._seen = count
        while self._times and self._times[0] < now_s - self.within_s:
            self._times.popleft()
        if self.fired or len(self._times) < self.after:
            return False
        self.fired = True
        return True
