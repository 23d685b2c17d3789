"""companion: an offline guided-relaxation audio companion.

A routine (TOML) becomes a timeline of absolute events; a streaming numpy mixer turns the timeline into
sound block by block; the same samples go to a sound device (``companion play``) or to a file
(``companion render``). See README.md for the commands and the routine format.
"""

import os

# companion's matrix products are tiny (loudness weights, true-peak taps): numpy's OpenBLAS worker threads
# would only spin after each one, taking CPU from the decoders and the audio thread. Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

ENGINE_RATE_HZ = 48_000
CHANNELS = 2
