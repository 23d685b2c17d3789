"""One lock for the process's stderr.

sounddevice silences PortAudio's and ALSA's C-level chatter while it initialises by pointing file
descriptor 2 at /dev/null for a moment. ``companion play`` does that import on a background thread (to
overlap the device scan with building the session), so anything written to stderr in that window would
vanish. The import holds ``STDERR_LOCK``; companion's error and warning lines take it before writing.
"""

from __future__ import annotations

import threading

STDERR_LOCK = threading.RLock()
