"""Tool arguments checked against each tool's input schema before any tool runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator

from sharkapi_ext import InvalidRequestError

from ._schemas import ToolSpec

__all__ = ["ArgumentCheck"]

# A validator's message quotes the value: a 2,000-character prompt must not come back whole.
_MAX_MESSAGE_CHARS = 300


class ArgumentCheck:
    """One JSON Schema validator per tool.

    Args:
        specs: The server's tools.
    """

    def __init__(self, specs: Iterable[ToolSpec]) -> None:
        self._validators = {
            spec.name: Draft202012Validator(dict(spec.input_schema)) for spec in specs
        }

    def problem(self, name: str, arguments: Mapping[str, Any]) -> InvalidRequestError | None:
        """The first schema violation, named by its field; None when the arguments fit."""
        errors = sorted(
            self._validators[name].iter_errors(arguments), key=lambda e: list(e.absolute_path)
        )
        if not errors:
            return None
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "arguments"
        message = error.message
        if len(message) > _MAX_MESSAGE_CHARS:
            message = message[: _MAX_MESSAGE_CHARS - 3] + "..."
        if error.validator == "maxLength" and isinstance(error.instance, str):
            message = f"{len(error.instance)} characters, more than {error.validator_value}"
        return InvalidRequestError(where, message)
