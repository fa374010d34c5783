"""The request options of the CLI, made from the spec (`sharkapi_spec`), not typed again.

`--mode` lists the spec's modes with their sizes and prices. Every request field the
spec declares beyond the typed ones (`--mode`, `--image`, `--strength`, the prompt
argument) gets its own option, typed from its JSON Schema, as soon as the package is
regenerated; `--field NAME=VALUE` sends any field by name. The client checks all of
them against the spec before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import click
import sharkapi_spec as spec

from sharkapi_ext import KEYWORD_FIELDS

__all__ = ["OPERATION_COMMANDS", "mode_option", "pop_extra_fields", "request_field_options"]

#: The command that covers each spec operation (the drift test checks every operation has
#: one; `sharkapi_ext.SharkAPI.call` runs the others from Python meanwhile).
OPERATION_COMMANDS: Final[Mapping[str, str]] = {"generateImage": "generate", "getJob": "status"}

F = TypeVar("F", bound=Callable[..., Any])

# Extra-field options are stored under this prefix, apart from the command's own.
_PREFIX = "field__"


def _modes_help() -> str:
    described = ", ".join(
        f"{mode} ({width}×{height}, ${spec.MODE_PRICES[mode]})"
        for mode, (width, height) in spec.MODE_SIZES.items()
    )
    return f"Generation mode: {described}. Default: {spec.DEFAULT_MODE}, the cheapest."


def mode_option(help_suffix: str = "") -> Callable[[F], F]:
    """`--mode`: the spec's modes, defaulting to the cheapest."""
    return click.option(
        "--mode",
        type=click.Choice(spec.MODES),
        default=spec.DEFAULT_MODE,
        show_default=True,
        help=_modes_help() + help_suffix,
    )


def _json_value(text: str) -> Any:
    """A JSON value if the text is one (``7``, ``true``, ``[1]``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_fields(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}")
        fields[name] = _json_value(text)
    return fields


def _field_type(schema: Mapping[str, Any]) -> click.ParamType[Any] | None:
    if "enum" in schema and all(isinstance(v, str) for v in schema["enum"]):
        return click.Choice([str(v) for v in schema["enum"]])
    kind = schema.get("type")
    if kind == "integer":
        return click.INT
    if kind == "number":
        return click.FLOAT
    if kind == "boolean":
        return click.BOOL
    if kind == "string":
        return click.STRING
    return None  # objects, arrays, unions: given as JSON text


def request_field_options(taken: frozenset[str]) -> Callable[[F], F]:
    """Options for the spec's extra request fields, plus the generic ``--field``.

    Args:
        taken: Option names the command already has (``--timeout``...); a field with
            such a name is reachable through ``--field`` only.
    """

    def decorate(func: F) -> F:
        func = click.option(
            "--field",
            "field__",
            multiple=True,
            metavar="NAME=VALUE",
            callback=_parse_fields,
            help="Send another request field the API declares (VALUE is JSON, else text).",
        )(func)
        properties = spec.GENERATE_REQUEST_SCHEMA["properties"]
        for name in reversed(spec.GENERATE_REQUEST_FIELDS):
            flag = "--" + name.replace("_", "-")
            if name in KEYWORD_FIELDS or flag in taken:
                continue
            schema = properties[name]
            kind = _field_type(schema)
            description = str(schema.get("description", "")).strip().split("\n\n")[0]
            text = " ".join(description.split()) or f"The request's {name!r} field."
            if name in spec.GENERATE_REQUEST_REQUIRED:
                # Not click's `required`: `--field NAME=VALUE` may give it too. Without
                # either, the client refuses the submit naming the field (exit 2).
                text = f"Required by the API. {text}"
            func = click.option(
                flag, _PREFIX + name, type=kind or click.STRING, default=None, help=text
            )(func)
        return func

    return decorate


def pop_extra_fields(options: dict[str, Any]) -> dict[str, Any] | None:
    """Remove the extra-field options from a command's keyword arguments; return them."""
    extra: dict[str, Any] = dict(options.pop(_PREFIX, None) or {})
    for key in [k for k in options if k.startswith(_PREFIX)]:
        value = options.pop(key)
        if value is None:
            continue
        name = key.removeprefix(_PREFIX)
        properties = spec.GENERATE_REQUEST_SCHEMA["properties"]
        if isinstance(value, str) and _field_type(properties.get(name, {})) is None:
            value = _json_value(value)
        extra[name] = value
    return extra or None
