"""``companion config``: where the settings file is and what is in force."""

from __future__ import annotations

import json

import click

from companion.terminal.text import visible

@click.command("config")
@click.option("--init", is_flag=True, help="Write a commented settings file (only if there is none yet).")
def config_command(init: bool) -> None:
    """Show the settings file's path and the effective settings.

    The file is TOML in your user config folder ($COMPANION_CONFIG_DIR overrides it); every key is
    optional and command-line options always win. Keys: music, device, cue_device, volume_db,
    balance_db, loudness_lufs, order.

    \b
    Examples:
      companion config
      companion config --init     # then edit the file it names
    """
    from companion.plan.settings import config_path, load_settings, template

    path = config_path()
    if init:
        if path.exists():
            click.echo(f"{visible(path)} already exists; left as it is.")
        else:
            from companion.folders import make_private_folder
            from companion.journal.files import write_new_file

            make_private_folder(path.parent)            # 0700, like the cache and data folders
            write_new_file(path, template())            # 0600, whole or not at all
            click.echo(f"Wrote {visible(path)}")
    settings = load_settings(path)
    state = "" if settings.source else "  (no file yet: built-in defaults)"
    click.echo(f"Settings file: {visible(path)}{state}")
    for key, value in settings.items():
        click.echo(f"  {key:<14} = {visible(_show(value))}")


def _show(value) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False) if value else "[] (built-in music)"
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, ensure_ascii=False)


COMMANDS = [config_command]
