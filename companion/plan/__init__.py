"""What a session is made of, before any sound.

``routine`` loads and validates routine files (errors name file, step and key); ``timeline`` places every
line, chime, duck and fade at an absolute time and fits holds to a requested length; ``settings`` is the
user's settings file; ``numbers`` is the one check for typed numbers (NaN, ±inf, ranges) and ``textfile``
reads a routine or settings file without trusting it (no FIFOs, devices or oversize files). Nothing here
reads or makes audio.
"""
