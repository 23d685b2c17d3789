"""``companion devices``: the sound outputs PortAudio can play to, and the inputs it can record from."""

from __future__ import annotations

import click

from companion.errors import DeviceError
from companion.terminal.text import visible


@click.command("devices")
def devices_command() -> None:
    """List the sound output devices, then the inputs (index, name, host API, channels, default rate).

    \b
    Pass an index or part of a name to `companion play --device`, or to `companion record --input`:
      companion devices
      companion play --device 3
      companion play --device "USB"
      companion record my-routine.toml --input "USB"
    """
    from companion.output.device import NO_DEVICE_MESSAGE, list_output_devices

    devices = list_output_devices()
    if not devices:
        raise DeviceError(NO_DEVICE_MESSAGE)
    _table(devices, "* = default output")
    from companion.studio.microphone import list_input_devices

    inputs = list_input_devices()
    if not inputs:
        click.echo("\nNo input devices (microphones): `companion record ROUTINE --import FOLDER` uses recordings "
                   "made elsewhere.")
        return
    click.echo("\nInputs, for `companion record --input`:")
    _table(inputs, "* = default input")


def _table(devices, legend: str) -> None:
    """Devices (index, name, hostapi, channels, default_rate_hz, is_default) as aligned rows."""
    name_width = max(len("name"), *(len(d.name) for d in devices))
    api_width = max(len("host API"), *(len(d.hostapi) for d in devices))
    click.echo(f"  {'index':>5}  {'name':<{name_width}}  {'host API':<{api_width}}  channels  default rate")
    for d in devices:
        mark = "*" if d.is_default else " "
        click.echo(f"{mark} {d.index:>5}  {visible(d.name):<{name_width}}  {visible(d.hostapi):<{api_width}}  "
                   f"{d.channels:>8}  {d.default_rate_hz} Hz")
    click.echo(legend)


COMMANDS = [devices_command]
