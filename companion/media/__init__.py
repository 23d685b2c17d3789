"""Reading audio files and knowing them.

``decode`` is the one way companion reads audio: short clips in-process, music streamed through
FFmpeg in bounded blocks. ``clips`` holds narration clips and chimes decoded, levelled and ready for the
mixer. ``loudness`` is the BS.1770 meter, file analysis and clip levelling, and ``library``
finds music files and probes them; ``track_cache`` keeps what was measured in SQLite, so a long track is
analysed once (and a broken or locked cache never costs the music).
"""
