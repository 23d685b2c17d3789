"""The device buffer grows once when the sound keeps breaking up, and says so (companion.output.buffer_growth)."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from companion.output.buffer_growth import UnderflowWatch
from tests import sessionkit as kit


def test_the_watch_fires_once_for_enough_dropouts_close_together():
    watch = UnderflowWatch(after=5, within_s=30.0)
    assert not watch.should_grow(4, 10.0), "four dropouts are not enough"
    assert not watch.should_grow(4, 50.0), "and they have aged out 30 s later"
    assert not watch.should_grow(8, 51.0), "four new ones are not enough either"
    assert watch.should_grow(9, 52.0), "five within 30 s are"
    assert not watch.should_grow(30, 53.0), "it grows once only"
    assert not UnderflowWatch(enabled=False).should_grow(100, 1.0), "a buffer the person chose never grows"


def test_a_starved_player_grows_its_buffer_and_plays_on(virtual_sound, tmp_path, monkeypatch):
    """The main thread holds the GIL for 150 ms at a time (a long switch interval and a busy loop: what a
    busy process does to the callback), so PortAudio reports real underflows at the 42.7 ms buffer; the
    player reopens the stream at ~0.2 s, tells the person, and plays on from where it was."""
    from companion.mix.assemble import build_session
    from companion.output.device import BUFFER_ENV, resolve_device
    from companion.output.stream import Player
    from companion.plan.routine import load_routine

    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(BUFFER_ENV, raising=False)
    kit.make_material(tmp_path)
    session = build_session(load_routine(kit.three_steps(tmp_path, "v")), music=[str(tmp_path / "music")], seed=0)
    said: list[str] = []
    player = Player(session, resolve_device("companion_room"), say=said.append)
    assert player.latency_s < 0.06
    started = time.monotonic()
    grown_s: list[float] = []
    grown_at: list[int] = []          # the heard frame when the person was told, and 1 s later

    def tick(p: Player) -> None:
        elapsed = time.monotonic() - started
        if 1.0 < elapsed < 3.0 and not said:
            switch = sys.getswitchinterval()
            sys.setswitchinterval(0.5)
            try:
                until = time.perf_counter() + 0.15
                while time.perf_counter() < until:
                    pass
            finally:
                sys.setswitchinterval(switch)
        if said and (not grown_at or len(grown_at) == 1 and elapsed > grown_s[0] + 1.0):
            grown_at.append(p.heard_frame())
            grown_s.append(elapsed)
        if len(grown_at) == 2 or elapsed > 6.0:
            p.interrupt()
        time.sleep(0.02)

    try:
        result = player.run(on_tick=tick)
    finally:
        session.close()
    assert result.device_underflows >= 5, f"only {result.device_underflows} underflows: the test did not starve it"
    assert len(said) == 1 and "buffer is now" in said[0], said
    assert player.latency_s >= 0.15, f"device buffer {player.latency_s * 1000:.0f} ms after growing"
    assert len(grown_at) == 2 and grown_at[1] - grown_at[0] >= 0.8 * 48_000, f"it played on after the buffer grew: {grown_at}"
    assert not result.device_errors, result.device_errors


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
