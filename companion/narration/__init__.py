"""Which audio speaks each line.

``voicing`` decides, line by line: the routine's own recorded clip, the shipped narration clip whose
text matches, or speech synthesised (and cached) by an installed engine. ``synthesis`` wraps the speech
engines and shapes their output (pace, pauses between sentences, trimmed silence, soft edges).
"""
