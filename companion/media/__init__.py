"""Reading audio files and knowing them.

``decode`` is the one way companion reads audio: short clips in-process, music streamed through
FFmpeg in bounded blocks. ``clips`` holds narration clips and chimes decoded, levelled and ready for the
mixer. ``loudness`` is the BS.1770 meter, file analysis and clip levelling, and ``library``
finds music files, probes them and caches what it measured in SQLite, so a long track is analysed once.
"""
