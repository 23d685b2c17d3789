"""Where a session goes.

``player`` plays live through sounddevice (the only module that imports it), with keys and a status
line; ``export`` renders to a file (wav, flac, mp3, ogg) under a temporary name, with chapters;
``cue_feed`` sends ambient cues to a second device (a therapist's earbud).
"""
