"""The CLI's own click parameter types: seconds, rates and dollar amounts.

Click's `FloatRange` lets NaN and infinity through, and has no amount type; these refuse
them in the command line's words before anything is sent.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

import click

__all__ = ["RATE", "SECONDS", "decimal_amount"]


class _Seconds(click.ParamType[float]):
    """A finite, positive number of seconds (click's FloatRange lets NaN and inf through)."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} is not a positive, finite number of seconds", param, ctx)
        return seconds


SECONDS = _Seconds()


class _Rate(_Seconds):
    """A finite, positive rate (requests per second)."""

    name = "rate"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r} is not a positive, finite number per second", param, ctx)


RATE = _Rate()


def decimal_amount(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    """An option callback: a dollar amount (a leading ``$`` allowed), finite and >= 0.

    Args:
        ctx: The click context.
        param: The option.
        value: What was given; None when the option was not.

    Returns:
        The amount, or None.

    Raises:
        click.BadParameter: Not an amount, negative or not finite.
    """
    if value is None:
        return None
    try:
        amount = Decimal(value.removeprefix("$"))
    except InvalidOperation:
        raise click.BadParameter(f"not an amount: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(f"must be >= 0: {value!r}")
    return amount
