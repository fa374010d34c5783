"""`sharkapi sandbox`'s fault options, made from `SandboxConfig`: none is written out by hand.

Every fault setting the sandbox can change at run time (`FAULT_RATE_FIELDS`, but the
seed, which has its own option) becomes an option named for its field
(``rate_429`` -> ``--rate-429``), with the field's default, a type from its default
(a share from 0 to 1 for ``rate_*``, seconds, a whole number, a flag) and the help line
of the field's docstring. A fault added to the sandbox's config gets its option with
no edit here.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from sharkapi_ext.sandbox._config import FAULT_RATE_FIELDS, SandboxConfig

__all__ = ["fault_options"]

F = TypeVar("F", bound=Callable[..., Any])

# Fields with an option of their own elsewhere on the command.
_OWN_OPTIONS = frozenset({"seed"})


def _help_lines() -> dict[str, str]:
    """Field -> its text in `SandboxConfig`'s ``Attributes:`` section."""
    # cleandoc: Python 3.13 strips docstrings' indentation itself, older ones do not.
    lines = inspect.cleandoc(SandboxConfig.__doc__ or "").splitlines()
    found: dict[str, str] = {}
    current: str | None = None
    in_section = False
    for line in lines:
        if line.strip() == "Attributes:":
            in_section = True
            continue
        if not in_section:
            continue
        entry = re.match(r"^ {4}(\w+): (.*)$", line)
        if entry:
            current = entry.group(1)
            found[current] = entry.group(2).strip()
        elif current is not None and line.startswith(" " * 8):
            found[current] += " " + line.strip()
        elif line.strip():
            break  # the next section
    return found


def _option_for(field: dataclasses.Field[Any], help_text: str, rate: click.ParamType[float]) -> Any:
    name = "--" + field.name.replace("_", "-")
    default = field.default
    if isinstance(default, bool):
        return click.option(name, is_flag=True, default=default, help=help_text)
    if default is None:  # an optional limit, such as the requests a second
        return click.option(name, type=rate, default=None, help=help_text)
    if field.name.startswith("rate_"):
        return click.option(
            name, type=click.FloatRange(0, 1), metavar="SHARE", default=default, help=help_text
        )
    if isinstance(default, int):
        return click.option(
            name,
            type=click.IntRange(min=0),
            metavar="N",
            default=default,
            show_default=True,
            help=help_text,
        )
    return click.option(
        name,
        type=click.FloatRange(min=0),
        metavar="SECONDS",
        default=default,
        show_default=True,
        help=help_text,
    )


def fault_options(rate: click.ParamType[float]) -> Callable[[F], F]:
    """A decorator adding one option per fault setting of `SandboxConfig`.

    Args:
        rate: The parameter type of a requests-a-second limit (the CLI's own).

    Returns:
        The decorator; the command receives each setting under its field's name.
    """
    helps = _help_lines()
    fields = [
        f
        for f in dataclasses.fields(SandboxConfig)
        if f.name in FAULT_RATE_FIELDS and f.name not in _OWN_OPTIONS
    ]

    def decorate(command: F) -> F:
        for field in reversed(fields):  # click lists options in decoration order
            command = _option_for(field, helps.get(field.name, ""), rate)(command)
        return command

    return decorate
