"""``companion voices``: the narration voices, how each sounds, and whether it can speak your own lines."""

from __future__ import annotations

import click


@click.command("voices")
@click.option("--play", "play_samples", is_flag=True, help="Speak each voice's sample sentence on the speakers.")
@click.option("--device", metavar="DEVICE", help="Output for --play: index or part of its name.")
def voices_command(play_samples: bool, device: str | None) -> None:
    """List the narration voices, with a sample sentence each.

    Every built-in line, and the therapist's cue phrases, are recorded in every voice. Your own routine
    lines and other ambient cues are spoken by the voice's engine when it is installed; otherwise the
    default voice speaks them (said once). Choose a voice with --voice NAME on play, render and ambient,
    or `voice = "NAME"` in the settings file.

    \b
    Examples:
      companion voices
      companion voices --play
      companion play --voice joe
    """
    from companion.narration import synthesis, voicing
    from companion.narration.voices import CUE_PHRASES, DEFAULT_VOICE, SAMPLE_PHRASE, VOICES

    samples = []
    for voice in VOICES.values():
        recorded = len(voicing.shipped_durations(voice.name))
        if synthesis.engine_installed(voice.engine):
            own = "your own lines: spoken in this voice"
        else:
            own = f"your own lines: need its engine ({voice.install_hint}); '{DEFAULT_VOICE}' speaks them meanwhile"
        mark = "  (default)" if voice.name == DEFAULT_VOICE else ""
        click.echo(f"{voice.name:<6} {voice.description}{mark}")
        click.echo(f"{'':<6} {recorded} built-in lines and cue phrases recorded; {own}")
        click.echo(f"{'':<6} sample: \"{SAMPLE_PHRASE}\"")
        samples.append(voicing.shipped_clip(SAMPLE_PHRASE, voice.name))
    click.echo("Cue phrases recorded in every voice: " + ", ".join(f'"{p}"' for p in CUE_PHRASES))
    if play_samples:
        from companion.output.device import resolve_device
        from companion.output.preview import play_clips

        output = resolve_device(device)
        for voice, path in zip(VOICES.values(), samples):
            if path is not None:
                click.echo(f"Playing {voice.name} ...")
                play_clips([path], output)


COMMANDS = [voices_command]
