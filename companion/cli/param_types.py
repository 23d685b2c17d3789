"""Click parameter types shared by the commands: numbers checked by the one shared validator.

``Number(numbers.VOLUME_DB)`` takes the range from ``companion.plan.numbers``, so ``--volume`` and the
settings key ``volume_db`` accept exactly the same values, and NaN or ±inf ("nan", "inf", "1e999") are
refused where click's ``FloatRange`` lets NaN through. A refusal is a ``NumberRefused``, which the command
group prints as one ``Error:`` line with exit code 2 (no usage block: the line says what to do).
"""

from __future__ import annotations

import click

from companion.errors import BadInputError
from companion.plan.numbers import checked_number


class NumberRefused(click.BadParameter):
    """A number option outside its range, or not finite."""


class Number(click.ParamType):
    """A finite float within ``(low, high, unit)``, checked by ``companion.plan.numbers``."""

    name = "number"

    def __init__(self, limits: tuple[float, float, str]) -> None:
        self.low, self.high, self.unit = limits

    def get_metavar(self, param, *args, **kwargs) -> str:  # click 8.1 and 8.2 signatures
        return f"{self.low:g}..{self.high:g}"

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, float):
            given = value
        else:
            try:
                given = float(str(value).strip())
            except ValueError:
                given = str(value)
        where = max(param.opts, key=len) if param is not None and param.opts else "the value"
        try:
            return checked_number(given, where, self.low, self.high, self.unit)
        except BadInputError as err:
            raise NumberRefused(str(err), ctx=ctx, param=param) from None
