"""What ``play`` and ``ambient`` do for the journal: options, the check-in, the start row and the ending.

Kept out of the command modules so each stays "parse, call, print". Nothing here can stop a session:
journal faults are warnings (see ``companion.journal.recorder``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from companion.journal.checkin import SILENT, CheckIn, Speaker

log = logging.getLogger("companion")

SCALE = click.IntRange(0, 10)


def journal_option(func):
    return click.option("--no-journal", is_flag=True,
                        help="Do not record this session in the practice journal (settings key: journal).")(func)


def check_in_options(func):
    """--check-in and the values a script gives instead of the questions."""
    for name, when in (("pain-after", "after"), ("tension-after", "after"), ("pain-before", "before"),
                       ("tension-before", "before")):
        func = click.option(f"--{name}", type=SCALE, default=None, metavar="0-10",
                            help=f"{name.split('-')[0].capitalize()} {when} the session, 0 to 10, "
                                 "recorded without asking.")(func)
    func = click.option("--speak-check-in", "speak_check_in", is_flag=True, default=None,
                        help="The check-in (implies --check-in), each question also spoken in the session's "
                             "voice on its device; a key stops it (settings key: check_in_spoken).")(func)
    return click.option("--check-in", "check_in", is_flag=True, default=None,
                        help="Ask tension (and pain) 0-10 before and after, one key each "
                             "(settings key: check_in).")(func)


def journal_wanted(no_journal: bool, settings) -> bool:
    return not no_journal and bool(settings.journal)


def check_in_before(wanted: bool, given: CheckIn, speaker: Speaker = SILENT) -> CheckIn:
    """Ask on the terminal when the check-in is on; values given on the command line are kept."""
    if not wanted or not sys.stdin.isatty():
        return given
    from companion.journal.checkin import check_in_before as ask

    return ask(sys.stdout, known=given, speaker=speaker)


def check_in_after(wanted: bool, before: CheckIn, given: CheckIn, speaker: Speaker = SILENT) -> CheckIn:
    if not wanted or not sys.stdin.isatty():
        return given
    from companion.journal.checkin import check_in_after as ask

    return ask(sys.stdout, before=before, known=given, speaker=speaker)


_said_shown_only = False


class _SpokenQuestions:
    """The ``Speaker`` of a check-in: each question's shipped clip, prepared once, said on the device."""

    def __init__(self, prompt, clips: dict) -> None:
        self._prompt, self._clips = prompt, clips

    def say(self, question_id: str) -> None:
        clip = self._clips.get(question_id)
        if clip is not None:
            self._prompt.say(clip)

    def hush(self) -> None:
        self._prompt.hush()


@contextmanager
def spoken_questions(wanted: bool, session, output, voice: str) -> Iterator[Speaker]:
    """A speaker for the check-in when the spoken prompt is on (``--speak-check-in``/``check_in_spoken``)
    and there is a terminal to answer on; else one that says nothing.

    Spoken as the session would speak it: the session's voice (shipped clips, so no engine is needed),
    its voice level, volume and voice/music balance as they stand (after the session, what the person set
    with the keys), on its device, under its true-peak ceiling. A device that cannot play means the
    questions are only shown, with one note.
    """
    if not wanted or not sys.stdin.isatty():
        yield SILENT
        return
    from companion.errors import DeviceError
    from companion.narration.voicing import shipped_clip
    from companion.narration.voices import CHECK_IN_PHRASES
    from companion.output.preview import SpokenPrompt, prompt_clip

    levels = session.mixer.levels
    gain_db = session.stage.volume_db + levels.balance_db / 2.0
    clips = {question_id: prompt_clip(path, session.rate_hz, voice_lufs=levels.voice_lufs, gain_db=gain_db)
             for question_id, text in CHECK_IN_PHRASES.items()
             if (path := shipped_clip(text, voice)) is not None}
    try:
        prompt = SpokenPrompt(output, session.rate_hz)
    except DeviceError as err:
        global _said_shown_only
        if not _said_shown_only:
            _said_shown_only = True
            log.warning("the check-in questions are shown, not spoken: %s", err.message)
        yield SILENT
        return
    from companion.terminal.console import quiet_c_stderr

    with quiet_c_stderr(), prompt:      # ALSA's "underrun occurred" and the like, as while playing
        yield _SpokenQuestions(prompt, clips)


def routine_ref(name: str) -> str:
    """What to type to play this routine again: its built-in name, else its file's absolute path."""
    from companion.plan.routine import resolve_routine_path

    path, builtin = resolve_routine_path(name)
    return builtin or str(Path(path).resolve())


def resume(routine: str | None) -> tuple[str, int, float | None, int]:
    """(routine to play, start step, --minutes, seed) of the last unfinished session (``--resume``)."""
    from companion.journal.resume import resume_point
    from companion.journal.store import Journal, JournalError

    try:
        with Journal.open(create=False) as journal:
            point = resume_point(journal, routine_ref(routine) if routine else None)
    except FileNotFoundError:
        from companion.errors import BadInputError

        raise BadInputError("--resume: there is no journal yet, so no session to pick up",
                            hint="use --from STEP to start at any step") from None
    except JournalError:
        raise
    step_text = f"step {point.start_step + 1}" + (f" of {point.row.step_count}" if point.row.step_count else "")
    from companion.terminal.text import visible
    from companion.terminal.console import STDERR_LOCK

    with STDERR_LOCK:   # the device scan may be silencing stderr on another thread: see terminal.console
        click.echo(f"Picking up {visible(point.row.routine)} at {step_text} "
                   f"(stopped {point.row.started:%a %d %b %H:%M}).", err=True)
    return point.routine_ref, point.start_step, point.minutes, point.seed


def pickup_line(result, *, routine: str, minutes: float | None, seed: int, music: tuple) -> str | None:
    """"To pick up there: companion play ... --from K" after a session that stopped early at a step."""
    from companion.journal.resume import pickup_command

    status = result.status
    at = result.stopped_at if result.stopped_at is not None else status
    if at is None or at.step_index < 0 or not (result.interrupted or status.stopped_early):
        return None
    command = pickup_command(routine, at.step_index, minutes=minutes, seed=seed,
                             music=tuple(str(m) for m in music))
    from companion.terminal.text import visible

    return f"To pick up there: {visible(command)}"


def guard_export(path: Path, force: bool) -> None:
    """Before any work: an existing file is replaced only with --force or a "yes" on a terminal, with the
    same words as render's -o (``output.destination.check_destination``)."""
    from companion.output.destination import check_destination, session_inputs
    from companion.terminal.text import visible

    def ask(question: str) -> bool:
        return click.confirm(visible(question), default=False, err=True)

    check_destination(Path(path), session_inputs(), force=force, ask=ask if sys.stdin.isatty() else None)
