"""The sandbox's answers, shaped by the spec's schemas and documented responses.

The sandbox knows what a job *is* (its id, status, cost, image...); what an answer
*looks like* comes from `sharkapi_spec`, generated from openapi.yaml:

- a success body has exactly the properties of the spec's schema (`Job`, `JobStatus`),
  in the spec's order: a field the sandbox knows is filled in, a field a later spec adds
  gets a value made from its schema, and a field the spec renamed or removed is no
  longer sent (so the client's own tests against the sandbox fail at once, by name);
- every error answer carries the `error.code` the spec's example gives for its status;
- every documented status of an operation can be forced (`X-Sandbox-Fault: 409`), with
  that code and the example's message;
- a documented response header the sandbox has no value of its own for is sent with a
  value made from its schema, on every answer that documents it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

import sharkapi_spec as spec

__all__ = [
    "DOCUMENTED_ERROR_STATUSES",
    "OWN_HEADERS",
    "answer",
    "body_from_schema",
    "documented_headers",
    "error_code",
    "error_message",
    "operation_for",
    "sample",
    "undeclared",
]

logger = logging.getLogger("sharkapi_ext.sandbox")

#: Headers the sandbox always sets itself, with real values.
OWN_HEADERS: Final = frozenset({"retry-after", "x-request-id", "content-type", "content-length"})

#: Every error status (>= 400) any operation documents, ascending.
DOCUMENTED_ERROR_STATUSES: Final[tuple[int, ...]] = tuple(
    sorted({code for answers in spec.RESPONSES.values() for code in answers if code >= 400})
)

_PATHS: Final = [
    (
        facts["method"],
        re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(facts["path"])) + "$"),
        op,
    )
    for op, facts in spec.OPERATIONS.items()
]


def operation_for(method: str, path: str) -> str | None:
    """The operationId a request goes to, None for the sandbox's own routes."""
    for op_method, pattern, op in _PATHS:
        if op_method == method and pattern.match(path):
            return op
    return None


def _documented(status: int, op: str | None) -> spec.ResponseFacts | None:
    answers = spec.RESPONSES.get(op or "", {})
    if status in answers:
        return answers[status]
    # Another operation's documentation of the same status (a fault forced elsewhere).
    return next((a[status] for a in spec.RESPONSES.values() if status in a), None)


def error_code(status: int, fallback: str, op: str | None = None) -> str:
    """The `error.code` the spec gives for `status` (its example's), else `fallback`."""
    found = _documented(status, op)
    if found is None:
        return fallback
    if found["error_code"]:
        return found["error_code"]
    # A documented status without an example: its component's name, in snake_case.
    name = found["name"]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if name else fallback


def error_message(status: int, op: str | None = None) -> str:
    """The spec's example message for `status`, else its response description."""
    found = _documented(status, op)
    if found is None:
        return f"HTTP {status}."
    return found["error_message"] or found["description"] or f"HTTP {status}."


def _nullable(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_nullable(s) for s in schema.get("oneOf", schema.get("anyOf", ())))


def sample(schema: Mapping[str, Any], *, required: bool = True) -> Any:
    """A value that fits `schema`: for a field or header the sandbox has no meaning for.

    Optional nullable fields are null (the spec's "absent nullable fields mean null");
    otherwise the schema's `const`, `default`, first example or enum value, else the
    least value of its type.
    """
    if "const" in schema:
        return schema["const"]
    if not required and _nullable(schema):
        return None
    for key in ("default", "examples", "enum"):
        if key in schema:
            value = schema[key]
            return value[0] if key != "default" and isinstance(value, list) and value else value
    for choice in schema.get("oneOf", schema.get("anyOf", ())):
        if choice.get("type") != "null":
            return sample(choice)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "null":
        return None
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return int(low) + (1 if "exclusiveMinimum" in schema else 0) if kind == "integer" else low
    if kind == "array":
        return [sample(schema.get("items", {})) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "object":
        return body_from_schema(schema, {})
    fmt = schema.get("format")
    if fmt == "date-time":
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "uri":
        return "https://sandbox.invalid/"
    return "x" * int(schema.get("minLength", 0))


def body_from_schema(schema: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """An answer with exactly `schema`'s properties, in its order.

    Args:
        schema: A resolved object schema (`sharkapi_spec.JOB_SCHEMA`, ...).
        known: What the sandbox knows, by field name; names the schema does not declare
            are left out (see `undeclared`).
    """
    required = set(schema.get("required", ()))
    return {
        name: known[name] if name in known else sample(prop, required=name in required)
        for name, prop in schema.get("properties", {}).items()
    }


def undeclared(schema: Mapping[str, Any], known: Mapping[str, Any]) -> list[str]:
    """The names in `known` that `schema` no longer declares (a rename or removal)."""
    return [name for name in known if name not in schema.get("properties", {})]


_warned: set[tuple[str, str]] = set()


def answer(schema_name: str, schema: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """`body_from_schema`, warning once per field the spec no longer declares.

    The sandbox then stops sending that field, as the real API would after the change;
    the warning (logger ``sharkapi_ext.sandbox``) says which, so a failing test names it.
    """
    for name in undeclared(schema, known):
        if (schema_name, name) not in _warned:
            _warned.add((schema_name, name))
            logger.warning(
                "openapi.yaml %s no longer declares %r in %s: the sandbox no longer sends it",
                spec.SPEC_VERSION,
                name,
                schema_name,
            )
    return body_from_schema(schema, known)


@cache
def documented_headers(op: str, status: int) -> tuple[tuple[bytes, bytes], ...]:
    """The headers `op`'s `status` answer documents that the sandbox does not set itself."""
    found = spec.RESPONSES.get(op, {}).get(status)
    if found is None:
        return ()
    headers = []
    for name, schema in found["headers"].items():
        if name.lower() in OWN_HEADERS:
            continue
        value = sample(schema)
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        headers.append((name.lower().encode("latin-1"), text.encode("latin-1")))
    return tuple(headers)
