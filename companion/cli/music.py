"""``companion music scan``: measure a music library once, so sessions start at once."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from companion.terminal.text import visible

COMMON_MUSIC_LUFS = -20.0    # music alone at the default loudness (ambient): the reference for the boost limit


@click.group("music")
def music_group() -> None:
    """Your own music: scan folders so every track plays at a common loudness.

    \b
    Examples:
      companion music scan ~/Music/calm
      companion music scan            # the music paths from `companion config`
    """


@music_group.command("scan")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--workers", type=click.IntRange(1, 16), help="Files measured at once (default: cores, max 4).")
def scan_command(paths: tuple[Path, ...], workers: int | None) -> None:
    """Measure loudness and length of every audio file in PATHS (files or folders, recursive).

    Results are cached (keyed by path, size and modification time), so a re-scan only measures new or
    changed files. Broken files are listed with the reason and skipped. Long files are measured in full
    here (a session measures only their first 5 minutes when they are not scanned yet).

    \b
    Examples:
      companion music scan ~/Music/calm "/media/usb/Rain sounds"
      companion music scan | tail -3     # no progress bar when piped
    """
    from companion.plan.settings import effective
    from companion.errors import BadInputError
    from companion.media.library import find_tracks, scan_tracks

    chosen = effective(paths, "music")
    if not chosen:
        raise BadInputError("no music to scan", hint="give a file or folder, or set music in `companion config`")
    tracks = find_tracks(chosen)
    if sys.stderr.isatty() and tracks:
        with click.progressbar(length=len(tracks), label="Scanning", file=sys.stderr,
                               show_pos=True, item_show_func=_short_name) as bar:
            def advance(track: Path) -> None:
                bar.current_item = track
                bar.update(1)

            result = scan_tracks(tracks, full=True, workers=workers, progress=advance)
    else:
        result = scan_tracks(tracks, full=True, workers=workers)
    for track, reason in result.skipped:
        click.echo(f"Warning: skipped {visible(track)}: {visible(reason)}", err=True)
    click.echo(summary(len(tracks), result))


def _short_name(track: Path | None) -> str:
    if track is None:
        return ""
    name = visible(track.name)
    return name if len(name) <= 40 else name[:37] + "..."


def summary(file_count: int, result) -> str:
    """The closing report in plain words, each file counted once: ``6 files: 4 playable (1 measured now,
    3 from the cache), 2 skipped (cannot decode)``; then the loudness range and length of the playable
    tracks."""
    playable = len(result.tracks)
    where = [f"{n} {said}" for n, said in ((result.fresh, "measured now"),
                                             (playable - result.fresh, "from the cache")) if n]
    head = f"{_count(file_count, 'file')}: {playable} playable" + (f" ({', '.join(where)})" if where else "")
    if result.skipped:
        reasons: dict[str, int] = {}
        for _, reason in result.skipped:
            kind = reason.split(" (")[0].split(":")[0]
            reasons[kind] = reasons.get(kind, 0) + 1
        kinds = (next(iter(reasons)) if len(reasons) == 1
                 else ", ".join(f"{n} {kind}" for kind, n in sorted(reasons.items())))
        head += f", {len(result.skipped)} skipped ({visible(kinds)})"
    lines = [head + "."]
    if result.tracks:
        levels = [t.loudness_lufs for t in result.tracks]
        total_s = sum(t.duration_s for t in result.tracks)
        length = f"{total_s / 3600:.1f} h" if total_s >= 3600 else f"{total_s / 60:.1f} min"
        lines.append(f"Loudness {min(levels):.1f} to {max(levels):.1f} LUFS (played at one common level); "
                     f"{length} of music.")
        lines += _too_quiet(result.tracks)
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _too_quiet(tracks) -> list[str]:
    """The stated limit of loudness matching, and the tracks it cannot bring up to music at -20 LUFS."""
    from companion.mix.playlist import MAX_BOOST_DB

    floor_lufs = COMMON_MUSIC_LUFS - MAX_BOOST_DB
    quiet = [t for t in tracks if t.loudness_lufs < floor_lufs]
    line = (f"Quiet tracks are raised by at most +{MAX_BOOST_DB:g} dB: with music at {COMMON_MUSIC_LUFS:g} LUFS, "
            f"a track under {floor_lufs:g} LUFS stays quieter than the rest")
    if not quiet:
        return [line + "; none here."]
    names = ", ".join(visible(t.path.name) for t in quiet[:5]) + (f" and {len(quiet) - 5} more" if len(quiet) > 5 else "")
    return [line + f": {len(quiet)} here: {names}."]


COMMANDS = [music_group]
