"""Keeping Python's garbage collector out of the audio path while any player runs.

A full collection can hold the GIL longer than a block period (21-26 ms measured, FIELD-NOTES.md), and the
audio callback needs the GIL. ``hold_gc`` collects once, freezes what is alive and disables the collector;
``release_gc`` undoes it. Counted, so two players (ambient's room and cue outputs) can overlap; the render
thread runs cheap young-generation passes itself while it is well ahead.
"""

from __future__ import annotations

import gc
import threading

_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = True


def hold_gc() -> None:
    """Keep the collector out of the audio path while any player runs (a full collection can hold the GIL
    longer than a block period): collect once, freeze what is alive, disable. Counted, for two players."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.collect()
            gc.freeze()
            gc.disable()
        _gc_holders += 1


def release_gc() -> None:
    global _gc_holders
    with _gc_lock:
        _gc_holders -= 1
        if _gc_holders == 0:
            gc.unfreeze()
            if _gc_was_enabled:
                gc.enable()
