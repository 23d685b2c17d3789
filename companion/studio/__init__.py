"""The therapist's studio: start a routine, record or import its lines in one's own voice.

``new_routine`` writes a routine file that works as written; ``takes`` cleans a recorded or imported take
with pydub (silence cut, rumble filtered, levelled to the built-in narration, faded) and writes it as
FLAC; ``routine_edit`` puts a line's ``clip =`` into the routine file keeping its comments and layout
(tomlkit); ``importer`` matches existing audio files to lines; ``microphone`` is the input stream and its
level meter; ``session`` walks the lines with one-key controls. Sits beside ``output`` (it uses an audio
device) and above ``narration``, ``plan`` and ``media``.
"""
