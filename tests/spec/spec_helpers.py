"""Shared helpers for the spec tests: the parsed openapi.yaml and a JSON Schema validator.

The OpenAPI 3.1 document is registered whole as one JSON Schema 2020-12 resource, so a
`{"$ref": "<uri>#/components/schemas/Job"}` schema resolves every internal `$ref` the
same way an OpenAPI 3.1 tool does. Formats are asserted (jsonschema's format checker),
not merely annotated.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi.yaml"
SPEC_URI = "urn:sharkapi:openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@cache
def load_spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


def escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def validator_for(pointer: str) -> Draft202012Validator:
    """A 2020-12 validator (formats checked) for the schema at `pointer` in openapi.yaml."""
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def resolve(node: Any) -> Any:
    """Follow a local `$ref` (responses, parameters, ...) to the object it names."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local $refs are expected, got {ref}"
        node = load_spec()
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation in the spec."""
    return [
        (path, method, op)
        for path, item in load_spec()["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]


# RFC 3339 `date-time`, parsed independently of datetime.fromisoformat so the round-trip
# tests do not judge the generated models with the very function they use.
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<hms>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.(?P<frac>[0-9]+))?"
    r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))"
)


def rfc3339_parts(text: str) -> tuple[str, str, Fraction, int]:
    """(date, hh:mm:ss, fraction of a second, offset in minutes) of an RFC 3339 date-time.

    The normalisation the round-trip tests compare under, and all it forgives: `Z`
    and `+00:00` and `-00:00` are the same offset, and `.5`, `.500000` and `.5000000`
    the same fraction. The wall-clock fields and the offset must survive exactly (no
    conversion to UTC), and so must every fractional digit that is not a trailing zero.
    """
    m = _RFC3339.fullmatch(text)
    assert m, f"not an RFC 3339 date-time: {text!r}"
    frac = Fraction(int(m["frac"]), 10 ** len(m["frac"])) if m["frac"] else Fraction(0)
    offset = 0 if m["z"] else (int(m["oh"]) * 60 + int(m["om"])) * (-1 if m["sign"] == "-" else 1)
    return m["date"], m["hms"], frac, offset
