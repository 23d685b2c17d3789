"""What a session is made of, before any sound.

``routine`` loads and validates routine files (errors name file, step and key); ``timeline`` places every
line, chime, duck and fade at an absolute time and fits holds to a requested length; ``settings`` is the
user's settings file. Nothing here reads or makes audio.
"""
