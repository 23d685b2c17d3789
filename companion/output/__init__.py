"""Where a session goes.

``player`` plays live with keys and a status line, through ``stream`` (the ring, the render thread and
the audio callback) on the device ``device`` chose (these two are the only ``sounddevice`` imports, with
``preview``, which plays the voice samples); ``export`` renders to a file (wav, flac, mp3, ogg) under a
temporary name, with chapters; ``destination`` refuses an output that would destroy an input or replace a
file unasked; ``interrupts`` turns Ctrl-C/SIGTERM during a render into a stop between blocks;
``cue_feed`` sends ambient cues to a second device (a therapist's earbud).
"""
