"""The audio engine, and the one place a session is put together.

``assemble`` turns a routine (or an ambient request) into a ``Session``: it asks ``narration`` which audio
speaks each line, plans the ``Timeline`` and wires the music ``playlist`` stream, the ``mixer`` (music,
voice and chime buses, planned ducking, fades). ``session`` is the clock and the controls that change
the content (skip, repeat, extend, balance); ``output_stage`` the ones a listener must hear at once
(pause, quit, volume, always as ramps) and the limiter, run by a live player on the block being sent.
``preflight`` finds what assembling would trip on (a routine over 8 hours, a clip or music path that is
not audio) for ``routines check``. Everything here is pure numpy, block by block,
deterministic: the same session renders the same samples whatever the block size.
"""
