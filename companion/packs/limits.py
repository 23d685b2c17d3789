"""What a pack may hold: the stated limits that every pack (and every installed folder) must keep.

A pack comes from someone else: a file from a USB stick, an e-mail, a download. These limits make a
hostile or broken one fail early, with one line, before anything is written.
"""

from __future__ import annotations

MAX_FILES = 300                       # routine + manifest + clips + music files
MAX_TOTAL_BYTES = 512 * 1024 * 1024   # 512 MiB unpacked: an hour of FLAC music plus a hundred clips
MAX_FILE_BYTES = 256 * 1024 * 1024    # one file
MAX_TEXT_BYTES = 1024 * 1024          # routine.toml and manifest.json
MAX_RATIO = 50                        # unpacked / packed size of one entry: audio barely compresses,
                                      # a zip bomb compresses thousands of times
RATIO_APPLIES_ABOVE = 1024 * 1024     # ... checked for entries that unpack to more than this
AUDIO_SUFFIXES = frozenset({".flac", ".wav", ".ogg", ".opus", ".mp3"})   # read in-process (libsndfile)
MUSIC_SUFFIXES = AUDIO_SUFFIXES | {".m4a"}
