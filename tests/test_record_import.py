"""``companion record ROUTINE --import FOLDER``: recordings in any format ffmpeg reads (m4a, mp3, ogg, wav)
matched to lines by name or order, cleaned, written as FLAC, and the routine updated keeping its comments.
Also the clip reader's pydub fallback (media/decode.py) for formats libsndfile cannot read."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from tests.clikit import private_dirs, run  # noqa: F401 - private_dirs is an autouse fixture
from companion.errors import AudioFileError
from companion.plan.routine import load_routine
from tests.studio_signals import RATE_HZ, speech_offset_s, spoken, take

FORMATS = {".m4a": ["-c:a", "aac", "-b:a", "128k"], ".mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
           ".ogg": ["-c:a", "libvorbis", "-q:a", "5"], ".wav": ["-c:a", "pcm_s16le"]}


def encode(samples: np.ndarray, path: Path, rate_hz: int = RATE_HZ) -> Path:
    """Write ``samples`` as ``path`` (format from its suffix) with ffmpeg, the way a phone or editor would."""
    wav = path.with_name(path.stem + "-source.wav")
    sf.write(str(wav), samples, rate_hz, subtype="FLOAT")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), *FORMATS[path.suffix],
                    str(path)], check=True)
    wav.unlink()
    return path


def new_routine(tmp_path: Path) -> Path:
    path = tmp_path / "mine.toml"
    assert run("routines", "new", str(path)).exit_code == 0
    return path


def comment_lines(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def test_import_by_order_from_m4a_mp3_ogg_wav_cleans_each_and_keeps_the_comments(tmp_path):
    routine = new_routine(tmp_path)
    original = routine.read_text(encoding="utf-8")
    lines = [(s.id, j, line.text) for s in load_routine(routine).steps for j, line in enumerate(s.lines)]
    memos = tmp_path / "memos"
    memos.mkdir()
    # natural order: "memo 2" before "memo 10"; the lines are taken in routine order
    names = ["memo 1.m4a", "memo 2.mp3", "memo 10.ogg", "memo 11.wav"]
    for (_, _, text), name in zip(lines, names):
        encode(take(spoken(text), lead_s=0.8, tail_s=0.9, rumble=0.05), memos / name)
    result = run("record", str(routine), "--import", str(memos))
    assert result.exit_code == 0, result.output
    assert "Imported 4 recordings" in result.output and "still without a recording" in result.output

    loaded = load_routine(routine)
    meter = pyloudnorm.Meter(RATE_HZ)
    for (step_id, j, text), name in zip(lines, names):
        line = next(s for s in loaded.steps if s.id == step_id).lines[j]
        assert line.clip is not None and line.clip.name == f"{step_id}-{j + 1}.flac", f"{name} -> {line}"
        assert line.text == text
        clip, rate = sf.read(str(line.clip), dtype="float64")
        assert rate == RATE_HZ and sf.info(str(line.clip)).format == "FLAC"
        speech = spoken(text)
        lead_s = speech_offset_s(clip, speech)
        tail_s = len(clip) / RATE_HZ - lead_s - len(speech) / RATE_HZ
        assert 0.0 <= lead_s <= 0.2 and 0.0 <= tail_s <= 0.3, f"{name}: lead {lead_s:.3f} s, tail {tail_s:.3f} s"
        assert abs(meter.integrated_loudness(clip) + 20.0) <= 1.0, name
    assert comment_lines(routine.read_text(encoding="utf-8")) == comment_lines(original), "comments kept"
    assert run("routines", "check", str(routine)).exit_code == 0


def test_import_by_name_skips_a_broken_file_and_says_which(tmp_path):
    routine = new_routine(tmp_path)
    text = load_routine(routine).steps[1].lines[1].text
    memos = tmp_path / "memos"
    memos.mkdir()
    encode(take(spoken(text), rumble=0.0), memos / "temples-2.m4a")
    (memos / "settle-1.mp3").write_bytes(b"not audio at all" * 100)
    result = run("record", str(routine), "--import", str(memos))
    assert result.exit_code == 0, result.output
    assert re.search(r"Warning: skipped settle-1\.mp3: .*not a readable audio file", result.output), result.output
    loaded = load_routine(routine)
    assert loaded.steps[1].lines[1].clip.name == "temples-2.flac"
    assert loaded.steps[0].lines[0].clip is None and not (tmp_path / "clips" / "settle-1.flac").exists()


def test_import_with_nothing_usable_exits_2_and_changes_nothing(tmp_path):
    routine = new_routine(tmp_path)
    before = routine.read_bytes()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("record", str(routine), "--import", str(empty))
    assert result.exit_code == 2 and "no audio files" in result.output
    silent = tmp_path / "silent"
    silent.mkdir()
    encode(np.zeros(RATE_HZ * 2, np.float32), silent / "settle-1.wav")
    result = run("record", str(routine), "--import", str(silent))
    assert result.exit_code == 2 and "silent" in result.output, result.output
    assert routine.read_bytes() == before and not (tmp_path / "clips").exists()


def test_a_builtin_cannot_be_recorded_over():
    result = run("record", "quick-reset", "--import", ".")
    assert result.exit_code == 2 and "routines new" in result.output


def test_the_clip_readers_pydub_fallback_reads_m4a_and_rejects_a_broken_one(tmp_path):
    from companion.media.decode import read_clip

    tone = (0.25 * np.sin(2 * np.pi * 440 * np.arange(RATE_HZ) / RATE_HZ)).astype(np.float32)
    path = encode(tone, tmp_path / "tone.m4a")
    with pytest.raises(Exception):
        sf.read(str(path))                       # libsndfile cannot: the fallback is what reads it
    data, rate = read_clip(path)
    assert rate == RATE_HZ and abs(len(data) / rate - 1.0) < 0.05
    rms_db = 20 * np.log10(np.sqrt(np.mean(data[:, 0] ** 2)))
    assert abs(rms_db - 20 * np.log10(0.25 / np.sqrt(2))) < 0.5
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 200)
    with pytest.raises(AudioFileError, match="not a readable audio file"):
        read_clip(broken)


def test_which_lines_a_session_records_unrecorded_all_or_one_step_hold_cues_included(tmp_path):
    from companion.errors import BadInputError
    from companion.studio.lines import lines_to_record

    routine = new_routine(tmp_path)
    memos = tmp_path / "memos"
    memos.mkdir()
    first = load_routine(routine)
    encode(take(spoken(first.steps[0].lines[0].text)), memos / "settle-1.wav")
    encode(take(spoken(first.steps[1].hold_cues[0].line.text)), memos / "temples-cue-1.wav")
    assert run("record", str(routine), "--import", str(memos)).exit_code == 0
    loaded = load_routine(routine)
    assert loaded.steps[1].hold_cues[0].line.clip == (tmp_path / "clips" / "temples-cue-1.flac").resolve()
    assert loaded.steps[1].hold_cues[0].line.text == first.steps[1].hold_cues[0].line.text
    assert 'at = "0:15"' in routine.read_text(encoding="utf-8"), "the cue keeps its place"
    every = sum(len(step.spoken) for step in loaded.steps)
    assert [line.label for line in lines_to_record(loaded)][:3] == ["settle-2", "temples-1", "temples-2"]
    assert "temples-cue-1" not in [line.label for line in lines_to_record(loaded)]
    assert len(lines_to_record(loaded)) == every - 2 and len(lines_to_record(loaded, every=True)) == every
    assert [line.label for line in lines_to_record(loaded, step_id="temples")] == [
        "temples-1", "temples-2", "temples-cue-1"]
    with pytest.raises(BadInputError, match="no step 'nope'"):
        lines_to_record(loaded, step_id="nope")
