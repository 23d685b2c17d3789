#!/usr/bin/env python3
"""Benchmark: in-process decoding with PyAV (FFmpeg's libraries) against companion's ffmpeg pipe (issue 10).

Measured in one run, each job in its own child process (wall time, CPU time of the job and its ffmpeg
children, peak RSS of the child and of its largest ffmpeg child, from ``resource``):

1. Loudness analysis of ``--files`` one-second MP3 files (``music scan``'s cold work): today's
   ``loudness.analyse_file`` (one ffmpeg process per file, a WAV pipe at the file's rate) against PyAV
   decoding the same files into the same ``LoudnessMeter``. Plus ``companion music scan`` itself, cold
   (empty cache) and warm, as a person runs it (interpreter start included).
2. Music decoding as a render does it: the 12 five-minute tracks of scripts/bench_inputs.py (MP3 and WAV)
   to 48 kHz float32 stereo in 1 s blocks: ``decode.StreamDecoder`` against PyAV with its own resampler.
3. Memory: one 60-minute MP3 (the 12 tracks joined) decoded by PyAV in 1 s blocks; RSS after the first
   minute and at the end (flat means bounded memory).

Needs ``pip install av`` (not a dependency of companion). Inputs are made once in --work.

    python scripts/bench_decode.py
    python scripts/bench_decode.py --files 200        # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATE_HZ = 48_000
BLOCK_FRAMES = 48_000


def one_second_mp3s(work: Path, count: int) -> Path:
    """``count`` one-second MP3 tones, cut by one ffmpeg process (the segment muxer)."""
    folder = work / f"mp3-1s-{count}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=f=440:d={count}:r=44100",
                    "-ac", "2", "-b:a", "128k", "-f", "segment", "-segment_time", "1",
                    str(folder / "track %04d.mp3")], check=True)
    for extra in sorted(folder.glob("*.mp3"))[count:]:      # the muxer may cut a last, empty piece
        extra.unlink()
    (folder / ".complete").write_text("ok")
    return folder


def long_mp3(work: Path, tracks: list[Path]) -> Path:
    out = work / "joined-60min.mp3"
    if not out.exists():
        listing = work / "joined.txt"
        listing.write_text("".join(f"file '{t}'\n" for t in tracks))
        subprocess.run(["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                        str(out)], check=True)
    return out


# ------------------------------------------------------------------------------------------------ jobs

def pyav_frames(path: Path, rate_hz: int | None, rate_out: list[int] | None = None):
    """Float32 stereo blocks of ``path`` by PyAV (at ``rate_hz``, or the file's own rate when None; that
    rate is appended to ``rate_out`` before the first block)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = rate_hz or stream.rate
        if rate_out is not None:
            rate_out.append(rate)
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1, 2)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1, 2)


def job_scan(files: list[Path], how: str) -> dict:
    from companion.media import loudness

    results = []
    for path in files:
        if how == "ffmpeg":
            results.append(loudness.analyse_file(path, full=True).loudness_lufs)
        else:
            rate: list[int] = []
            meter = None
            for block in pyav_frames(path, None, rate):
                meter = meter or loudness.LoudnessMeter(rate[0], 2)
                meter.add(block)
            results.append(meter.integrated_lufs())
    return {"files": len(files), "mean_lufs": sum(results) / len(results)}


def job_decode(files: list[Path], how: str) -> dict:
    import numpy as np

    from companion.media.decode import StreamDecoder

    frames = 0
    checksum = 0.0
    for path in files:
        if how == "ffmpeg":
            with StreamDecoder(path, RATE_HZ) as decoder:
                while len(block := decoder.read(BLOCK_FRAMES)):
                    frames += len(block)
                    checksum += float(np.abs(block[::997]).sum())
        else:
            for block in pyav_frames(path, RATE_HZ):
                frames += len(block)
                checksum += float(np.abs(block[::997]).sum())
    return {"audio_s": frames / RATE_HZ, "checksum": round(checksum, 1)}


def job_memory(path: Path) -> dict:
    rss = []
    frames = 0
    next_mark = 60 * RATE_HZ
    for block in pyav_frames(path, RATE_HZ):
        frames += len(block)
        if frames >= next_mark:
            rss.append(_rss_mb())
            next_mark += 600 * RATE_HZ
    return {"audio_s": frames / RATE_HZ, "rss_after_1_min_mb": rss[0], "rss_end_mb": _rss_mb(),
            "rss_samples_mb": rss}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------------------------------- launching

def run_job(args: list[str], env: dict | None = None) -> dict:
    """Run a job of this script (which prints its own JSON figures) or a command; adds the wall time."""
    started = time.perf_counter()
    done = subprocess.run(args, stdout=subprocess.PIPE, env=env)
    wall = time.perf_counter() - started
    last = done.stdout.decode().strip().splitlines()[-1:] or [""]
    result = json.loads(last[0]) if last[0].startswith("{") else {}
    result.update(wall_s=wall, returncode=done.returncode)
    return result


def child_main(kind: str, how: str, paths: list[str]) -> None:
    started_cpu = os.times()
    files = sorted(Path(paths[0]).glob("*.mp3")) if len(paths) == 1 and Path(paths[0]).is_dir() else [Path(p) for p in paths]
    result = {"scan": lambda: job_scan(files, how), "decode": lambda: job_decode(files, how),
              "memory": lambda: job_memory(files[0])}[kind]()
    end = os.times()
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    child_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(cpu_s=(end.user - started_cpu.user) + (end.system - started_cpu.system)
                  + (end.children_user - started_cpu.children_user) + (end.children_system - started_cpu.children_system),
                  rss_mb=self_usage.ru_maxrss / 1024, ffmpeg_child_rss_mb=child_usage.ru_maxrss / 1024)
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "companion-bench")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--job", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        child_main(args.job[0], args.job[1], args.job[2:])
        return 0
    try:
        import av  # noqa: F401
    except ImportError:
        print("PyAV is not installed: pip install av", file=sys.stderr)
        return 2

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_inputs

    inputs = bench_inputs.prepare(args.work)
    small = sorted(one_second_mp3s(args.work, args.files).glob("*.mp3"))
    joined = long_mp3(args.work, inputs.full.tracks_mp3)
    me = [sys.executable, str(Path(__file__).resolve()), "--work", str(args.work), "--job"]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    rows: dict[str, dict] = {}

    def timed(key: str, cmd: list[str], env: dict | None = None) -> None:
        print(f"  running {key} ...", flush=True)
        rows[key] = run_job(cmd, env)

    for how in ("ffmpeg", "pyav"):
        timed(f"scan {len(small)} x 1 s mp3: {how}", [*me, "scan", how, str(small[0].parent)])
    for fmt, tracks in (("MP3", inputs.full.tracks_mp3), ("WAV", inputs.full.tracks_wav)):
        for how in ("ffmpeg", "pyav"):
            timed(f"decode 12 x 5 min {fmt}: {how}", [*me, "decode", how, *map(str, tracks)])
    timed("pyav memory, 60-min mp3", [*me, "memory", "pyav", str(joined)])
    companion = [str(Path(sys.executable).parent / "companion"), "music", "scan", str(small[0].parent)]
    cache = Path(tempfile.mkdtemp(prefix="bench-decode-cache-"))
    env = {**os.environ, "COMPANION_CACHE_DIR": str(cache)}
    timed("companion music scan, cold (ffmpeg)", companion, env)
    timed("companion music scan, warm", companion, env)
    shutil.rmtree(cache, ignore_errors=True)

    print(f"\n{'job':<44} {'wall s':>8} {'cpu s':>8} {'RSS MB':>8} {'ffmpeg MB':>9}")
    for key, row in rows.items():
        print(f"{key:<44} {row['wall_s']:>8.2f} {row.get('cpu_s', float('nan')):>8.2f} "
              f"{row.get('rss_mb', float('nan')):>8.0f} {row.get('ffmpeg_child_rss_mb', float('nan')):>9.0f}")
    n = len(small)
    scan_f, scan_p = rows[f"scan {n} x 1 s mp3: ffmpeg"], rows[f"scan {n} x 1 s mp3: pyav"]
    print(f"\nscan per file: ffmpeg {1000 * scan_f['wall_s'] / n:.1f} ms, pyav {1000 * scan_p['wall_s'] / n:.1f} ms "
          f"(wall ratio pyav/ffmpeg {scan_p['wall_s'] / scan_f['wall_s']:.2f}, cpu ratio "
          f"{scan_p['cpu_s'] / scan_f['cpu_s']:.2f}); loudness agrees: "
          f"{scan_f['mean_lufs']:.3f} vs {scan_p['mean_lufs']:.3f} LUFS")
    for fmt in ("MP3", "WAV"):
        f, p = rows[f"decode 12 x 5 min {fmt}: ffmpeg"], rows[f"decode 12 x 5 min {fmt}: pyav"]
        print(f"decode {fmt}: wall ratio pyav/ffmpeg {p['wall_s'] / f['wall_s']:.2f}, cpu ratio "
              f"{p['cpu_s'] / f['cpu_s']:.2f}, {f['audio_s']:.0f} s of audio each")
    mem = rows["pyav memory, 60-min mp3"]
    print(f"pyav memory: RSS {mem['rss_after_1_min_mb']:.0f} MB after 1 min, {mem['rss_end_mb']:.0f} MB after "
          f"{mem['audio_s'] / 60:.0f} min (samples {', '.join(f'{x:.0f}' for x in mem['rss_samples_mb'])})")
    cold, warm = rows["companion music scan, cold (ffmpeg)"], rows["companion music scan, warm"]
    print(f"music scan of {n} one-second mp3s: cold {cold['wall_s']:.1f} s, warm {warm['wall_s']:.2f} s "
          f"(cold/warm {cold['wall_s'] / warm['wall_s']:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
