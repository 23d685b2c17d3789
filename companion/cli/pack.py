"""``companion pack``: a routine with its recorded clips (and music) as one file to hand to a patient."""

from __future__ import annotations

from pathlib import Path

import click

from companion.terminal.text import visible


@click.command("pack")
@click.argument("routine", metavar="ROUTINE")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True, metavar="FILE",
              help="The pack to write: NAME.companion.zip (NAME becomes the installed routine's name).")
@click.option("--author", default=None, metavar="NAME", help="Who made it, shown when listing (default: your user name).")
@click.option("--with-music", is_flag=True, help="Also carry the routine's own music files (else it plays the built-in music).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def pack_command(routine: str, output: Path, author: str | None, with_music: bool, force: bool) -> None:
    """Bundle your routine, its recordings and (optionally) its music into one zip with a manifest.

    The manifest holds the title, author, date and a SHA-256 hash of every file, so the person who
    installs it knows it arrived whole.

    \b
    Examples:
      companion pack my-routine.toml -o evening-neck.companion.zip --author "Dr. Ada Example"
      companion pack my-routine.toml -o evening-neck.companion.zip --with-music
      companion routines install evening-neck.companion.zip    # on the patient's computer
    """
    import getpass

    from companion.packs.build import build_pack

    result = build_pack(routine, output, author=author or getpass.getuser(), with_music=with_music, force=force)
    clips = sum(1 for name in result.manifest.files if name.startswith("clips/"))
    music = sum(1 for name in result.manifest.files if name.startswith("music/"))
    if result.music_dropped:
        click.echo("Note: the routine's own music is not in the pack (add --with-music); it plays the built-in "
                   "music instead.", err=True)
    click.echo(f"Wrote {visible(str(result.path))}: '{visible(result.manifest.title)}' by "
               f"{visible(result.manifest.author)}, {clips} clip{'s' if clips != 1 else ''}, "
               f"{music} music file{'s' if music != 1 else ''}, {result.total_bytes / 2**20:.1f} MiB.")
    click.echo(f"Install it with: companion routines install {visible(result.path.name)}  "
               f"(then: companion play {result.manifest.name})")


COMMANDS = [pack_command]
