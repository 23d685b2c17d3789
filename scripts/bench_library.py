#!/usr/bin/env python3
"""Benchmark: long music files and big music folders (issue 5).

1. A generated 3-hour MP3 (a 10-minute MP3 encoded once, joined 18 times without re-encoding):
   - companion's streaming decoder (``companion.media.decode.StreamDecoder``, 48 kHz float32): time to the
     first block and peak RSS, then the whole file read through in 1 s blocks (RSS must stay flat);
   - pydub's ``AudioSegment.from_file`` on the same file: time until the audio is usable, peak RSS;
   - loudness analysis: the quick first look (first 5 minutes) and the full measurement, in times real time.
   Each runs in its own child process; peak RSS comes from ``os.wait4`` (the child's ``ru_maxrss``) and,
   for the ffmpeg grandchild, from the child's ``RUSAGE_CHILDREN``.
2. An ambient session of ``--ambient-hours`` (built-in music, looped) rendered block by block: memory
   sampled every 10 minutes of audio must stay flat.
3. ``companion music scan`` over 1,000 generated one-second files (WAV, or MP3 with ``--scan-format mp3``),
   cold (empty cache) and warm (unchanged),
   as a person runs it (a fresh ``companion`` process each time, interpreter start included).

Prints one table and the ratios. Inputs are cached in the work folder between runs.

    python scripts/bench_library.py                       # everything (pydub needs ~6 GB for 3 hours)
    python scripts/bench_library.py --hours 1 --skip-pydub
    python scripts/bench_library.py --scan-only --scan-format mp3   # music scan of 1,000 one-second MP3s
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_WORK = Path(tempfile.gettempdir()) / "companion-bench-library"
PIECE_MINUTES = 10
BLOCK_FRAMES = 4096


# ---------------------------------------------------------------------------------------------- inputs

def long_mp3(work: Path, hours: float) -> Path:
    """A ``hours``-long stereo 192 kbit/s MP3: soft tone + pink noise, joined from 10-minute pieces."""
    path = work / f"long-{hours:g}h.mp3"
    if path.exists():
        return path
    piece = work / "piece-10min.mp3"
    if not piece.exists():
        _ffmpeg("-f", "lavfi", "-i", f"sine=f=220:d={PIECE_MINUTES * 60}:sample_rate=44100",
                "-f", "lavfi", "-i", f"anoisesrc=d={PIECE_MINUTES * 60}:c=pink:a=0.05:r=44100",
                "-filter_complex", "[0][1]amix=inputs=2,aformat=channel_layouts=stereo",
                "-b:a", "192k", "-f", "mp3", str(piece) + ".tmp")
        os.replace(str(piece) + ".tmp", piece)
    pieces = int(round(hours * 60 / PIECE_MINUTES))
    listing = work / "pieces.txt"
    listing.write_text("".join(f"file '{piece}'\n" for _ in range(pieces)))
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-f", "mp3", str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)
    return path


def small_files(work: Path, count: int, fmt: str = "wav") -> Path:
    """``count`` one-second files (tones, 22.05 kHz stereo) in album folders of 100, as WAV or MP3 (each
    MP3 made by its own ffmpeg: ~0.1 s a file, once)."""
    import soundfile as sf

    folder = work / f"scan-{count}-{fmt}-1s"
    done = folder / ".complete"
    if done.exists():
        return folder
    t = np.arange(22050) / 22050
    for index in range(count):
        sub = folder / f"album {index // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        tone = (0.1 * np.sin(2 * np.pi * (200 + index) * t)).astype(np.float32)
        wav = sub / f"track {index:04d}.wav"
        sf.write(wav, np.stack([tone, tone], 1), 22050, subtype="PCM_16")
        if fmt == "mp3":
            _ffmpeg("-i", str(wav), "-b:a", "128k", str(wav.with_suffix(".mp3")))
            wav.unlink()
    done.write_text("ok")
    return folder


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


# ---------------------------------------------------------------------------------------------- children

def child(mode: str, path: str) -> dict:
    """Runs inside the measured child process; returns figures as a dict."""
    # Each mode imports only what it uses, before the clock starts (imports are not part of the timings).
    if mode.startswith("stream"):
        from companion.media.decode import StreamDecoder
    elif mode == "ambient-render":
        import companion.mix.assemble  # noqa: F401
    elif mode == "pydub":
        from pydub import AudioSegment
    else:
        from companion.media import library
        from companion.media import loudness
        loudness.LoudnessMeter(16_000)   # scipy.signal and companion.dsp load here, not in the timing
    started = time.perf_counter()
    if mode == "stream-first":
        decoder = StreamDecoder(Path(path), 48_000)
        block = decoder.read(BLOCK_FRAMES)
        first_s = time.perf_counter() - started
        decoder.close()
        return {"first_block_s": first_s, "frames": len(block)}
    if mode == "stream-all":
        decoder = StreamDecoder(Path(path), 48_000)
        first_s = None
        frames = 0
        rss_samples = []
        while True:
            block = decoder.read(48_000)
            if first_s is None:
                first_s = time.perf_counter() - started
            if not len(block):
                break
            frames += len(block)
            if frames % (48_000 * 600) < 48_000:
                rss_samples.append(_rss_now_mb())
        decoder.close()
        return {"first_block_s": first_s, "total_s": time.perf_counter() - started, "audio_s": frames / 48_000,
                "rss_every_10min_mb": rss_samples}
    if mode == "pydub":
        segment = AudioSegment.from_file(path)
        first = segment[:100].get_array_of_samples()
        return {"first_block_s": time.perf_counter() - started, "audio_s": len(segment) / 1000, "n": len(first)}
    if mode == "ambient-render":
        from companion.mix.assemble import build_ambient_session

        hours = float(path)
        session = build_ambient_session(minutes=hours * 60, seed=1)   # the built-in music, shuffled and looped
        block = np.zeros((48_000, 2), np.float32)
        rss_samples, seconds = [], 0
        while not session.finished:
            session.render(block)
            seconds += 1
            if seconds % 600 == 0:
                rss_samples.append(_rss_now_mb())
        session.close()
        return {"render_s": time.perf_counter() - started, "audio_s": seconds, "rss_every_10min_mb": rss_samples}
    if mode in ("analyse-quick", "analyse-full"):
        info = library.track_info(Path(path), full=mode == "analyse-full")
        took = time.perf_counter() - started
        return {"analyse_s": took, "partial": info.partial, "duration_s": info.duration_s,
                "loudness_lufs": round(info.loudness_lufs, 2),
                "x_realtime": (info.duration_s if not info.partial else 300.0) / took}
    raise SystemExit(f"unknown mode {mode}")


def _rss_now_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(mode: str, path: Path, env: dict[str, str]) -> dict:
    """Run ``child(mode, path)`` in a fresh process; add its peak RSS and its children's."""
    code = ("import json, resource, sys; sys.path.insert(0, %r); import bench_library as b; "
            "r = b.child(%r, %r); r['children_maxrss_mb'] = "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024; print(json.dumps(r))"
            % (str(Path(__file__).parent), mode, str(path)))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env={**os.environ, **env})
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{mode} failed with exit code {proc.returncode}")
    result = json.loads(output)
    result["wall_s"] = time.perf_counter() - started
    result["maxrss_mb"] = usage.ru_maxrss / 1024
    return result


def timed_command(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------- main

def long_files(args, cache: Path, env: dict[str, str], rows: list) -> tuple[dict, dict, dict, dict, dict | None]:
    """Parts 1 and 2: the long MP3 streamed, analysed, loaded by pydub; the ambient session's memory."""
    mp3 = long_mp3(args.work, args.hours)
    first = measure("stream-first", mp3, env)
    rows.append((f"companion stream, first block ({args.hours:g} h mp3)", f"{first['first_block_s'] * 1000:.0f} ms",
                 f"{first['maxrss_mb']:.0f} MB (ffmpeg {first['children_maxrss_mb']:.0f} MB)"))
    whole = measure("stream-all", mp3, env)
    rss = whole["rss_every_10min_mb"]
    rows.append((f"companion stream, whole file ({whole['audio_s'] / 3600:.2f} h)", f"{whole['total_s']:.1f} s",
                 f"{whole['maxrss_mb']:.0f} MB peak; every 10 min {min(rss):.0f}-{max(rss):.0f} MB"))
    quick = measure("analyse-quick", mp3, env)
    rows.append(("loudness, first look (partial, 5 min)", f"{quick['analyse_s']:.2f} s",
                 f"{quick['maxrss_mb']:.0f} MB, {quick['x_realtime']:.0f}x real time"))
    full = measure("analyse-full", mp3, {"COMPANION_CACHE_DIR": str(cache / "full")})
    rows.append((f"loudness, full ({full['duration_s'] / 3600:.2f} h)", f"{full['analyse_s']:.1f} s",
                 f"{full['maxrss_mb']:.0f} MB, {full['x_realtime']:.0f}x real time"))
    pydub = None
    if not args.skip_pydub:
        pydub = measure("pydub", mp3, env)
        rows.append(("pydub AudioSegment.from_file, same file", f"{pydub['first_block_s']:.1f} s",
                     f"{pydub['maxrss_mb']:.0f} MB (ffmpeg {pydub['children_maxrss_mb']:.0f} MB)"))

    if args.ambient_hours:
        ambient = measure("ambient-render", Path(str(args.ambient_hours)), env)
        rss = ambient["rss_every_10min_mb"]
        rows.append((f"ambient session, {args.ambient_hours:g} h rendered", f"{ambient['render_s']:.1f} s",
                     f"{ambient['maxrss_mb']:.0f} MB peak; every 10 min {min(rss):.0f}-{max(rss):.0f} MB"))

    return first, whole, quick, full, pydub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for generated inputs")
    parser.add_argument("--hours", type=float, default=3.0, help="length of the long MP3")
    parser.add_argument("--files", type=int, default=1000, help="files in the scan folder")
    parser.add_argument("--scan-format", choices=("wav", "mp3"), default="wav",
                        help="the scan folder's files: wav (read in-process) or mp3 (one ffmpeg each)")
    parser.add_argument("--scan-only", action="store_true", help="only the music scan (part 3)")
    parser.add_argument("--skip-pydub", action="store_true", help="leave out pydub (it needs ~2 GB an hour)")
    parser.add_argument("--ambient-hours", type=float, default=3.0,
                        help="render an ambient session this long and watch its memory (0: leave out)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    print(f"inputs in {args.work} ...", flush=True)
    folder = small_files(args.work, args.files, args.scan_format)
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=args.work))
    env = {"COMPANION_CACHE_DIR": str(cache)}
    rows: list[tuple[str, str, str]] = []
    first = whole = quick = full = pydub = None
    if not args.scan_only:
        first, whole, quick, full, pydub = long_files(args, cache, env, rows)
    companion = [sys.executable, "-c", "import sys; from companion.cli import main; sys.argv[0] = 'companion'; main()",
                 "music", "scan", str(folder)]
    scan_env = {"COMPANION_CACHE_DIR": str(cache / "scan")}
    cold = timed_command(companion, scan_env)
    warm = timed_command(companion, scan_env)
    rows.append((f"music scan, {args.files} one-second {args.scan_format} files, cold", f"{cold:.1f} s", f"{args.files / cold:.0f} files/s"))
    rows.append((f"music scan, {args.files} one-second {args.scan_format} files, warm", f"{warm:.2f} s", "target < 2 s (process start included)"))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'time':>10}  memory / rate")
    for what, took, other in rows:
        print(f"{what:<{width}}  {took:>10}  {other}")
    print("\nratios:")
    if pydub:
        print(f"  first block: pydub / companion = {pydub['first_block_s'] / first['first_block_s']:.0f}x slower")
        print(f"  peak RSS:    pydub / companion = {pydub['maxrss_mb'] / first['maxrss_mb']:.0f}x more "
              f"(whole-file stream: {pydub['maxrss_mb'] / whole['maxrss_mb']:.0f}x)")
    print(f"  scan: cold / warm = {cold / warm:.0f}x")
    if full and quick:
        print(f"  loudness: full analysis {full['x_realtime']:.0f}x real time; first look {quick['analyse_s']:.2f} s")
    print(f"  (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
