"""``companion devices``: the sound outputs PortAudio can play to."""

from __future__ import annotations

import click

from companion.errors import DeviceError
from companion.terminal.text import visible


@click.command("devices")
def devices_command() -> None:
    """List the sound output devices (index, name, host API, channels, default rate; * = default).

    \b
    Pass an index or part of a name to `companion play --device`:
      companion devices
      companion play --device 3
      companion play --device "USB"
    """
    from companion.output.device import NO_DEVICE_MESSAGE, list_output_devices

    devices = list_output_devices()
    if not devices:
        raise DeviceError(NO_DEVICE_MESSAGE)
    name_width = max(len("name"), *(len(d.name) for d in devices))
    api_width = max(len("host API"), *(len(d.hostapi) for d in devices))
    click.echo(f"  {'index':>5}  {'name':<{name_width}}  {'host API':<{api_width}}  channels  default rate")
    for d in devices:
        mark = "*" if d.is_default else " "
        click.echo(f"{mark} {d.index:>5}  {visible(d.name):<{name_width}}  {visible(d.hostapi):<{api_width}}  "
                   f"{d.channels:>8}  {d.default_rate_hz} Hz")
    click.echo("* = default output")


COMMANDS = [devices_command]
