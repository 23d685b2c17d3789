"""The audio engine, and the one place a session is put together.

``assemble`` turns a routine (or an ambient request) into a ``Session``: it asks ``narration`` which audio
speaks each line, plans the ``Timeline`` and wires the music ``playlist`` stream, the ``mixer`` (music,
voice and chime buses, planned ducking, fades) and the limiter. ``session`` is the clock and the live
controls (pause, skip, volume ... always as ramps). ``preflight`` finds what assembling would trip on
(a routine over 8 hours, a clip or music path that is not audio) for ``routines check``. Everything here is pure numpy, block by block,
deterministic: the same session renders the same samples whatever the block size.
"""
