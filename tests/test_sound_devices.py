"""Picking a device by ``--device``/``--input``: one matcher for playback and recording (sound_devices).

Literal device lists, no PortAudio: the matching rules themselves. The real listing is exercised on the
virtual sound device by test_player_devices.py (output) and test_record_live.py (input)."""

from __future__ import annotations

import pytest

from companion.errors import BadInputError
from companion.sound_devices import SoundDevice, pick_device

DEVICES = [SoundDevice(0, "pulse", "ALSA", 32, 44_100, False),
           SoundDevice(3, "companion_room", "ALSA", 2, 48_000, True),
           SoundDevice(4, "companion_room_2", "ALSA", 2, 48_000, False)]


@pytest.mark.parametrize("direction", ["input", "output"])
def test_an_index_a_whole_name_or_one_part_picks_the_device_and_nothing_picks_the_default(direction):
    pick = lambda spec: pick_device(DEVICES, spec, named_by="--x", direction=direction).index  # noqa: E731
    assert [pick(None), pick("  "), pick("4"), pick("PULSE"), pick("Companion_Room"), pick("room_2")] == [3, 3, 4, 0, 3, 4]


@pytest.mark.parametrize("direction", ["input", "output"])
def test_no_match_or_several_is_one_error_naming_the_value_and_the_choices(direction):
    with pytest.raises(BadInputError, match=rf"--input 'speaker' is not an {direction} device; choose an index "
                                            r"or part of a name from: 0: pulse \(ALSA\); 3: companion_room"):
        pick_device(DEVICES, "speaker", named_by="--input", direction=direction)
    with pytest.raises(BadInputError, match=rf"'room' matches several {direction} devices; .* from: 3: "):
        pick_device(DEVICES, "room", named_by="--device", direction=direction)
    with pytest.raises(BadInputError, match="is not an"):
        pick_device(DEVICES, "7", named_by="--device", direction=direction)
