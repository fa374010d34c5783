"""Every error status has a named example, and every example in openapi.yaml validates.

Examples are what Prism serves and what readers copy, so an example that breaks its
own schema is a bug in the spec. Validation is JSON Schema 2020-12 (OpenAPI 3.1's
dialect) with `$ref`s resolved and formats checked.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from spec_helpers import escape_pointer, load_spec, operations, resolve, validator_for

# Every call can be malformed, unauthenticated, refused, throttled or hit a 503; a paid
# one can also find the wallet empty (402); one naming a resource in its path can miss it
# (404). Rules, not a table of operations: an operation added later is checked too.
EVERY_CALL_ERRORS = {"400", "401", "403", "429", "503"}
SCHEMA_KEYWORDS = ("items", "additionalProperties", "not", "contains", "propertyNames")
SCHEMA_LIST_KEYWORDS = ("oneOf", "anyOf", "allOf", "prefixItems")
SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "$defs")


def error_responses() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (op["operationId"], status, resolve(response))
        for _, _, op in operations()
        for status, response in op["responses"].items()
        if status[0] in "45"
    ]


def media_examples() -> list[Any]:
    """(schema pointer, value) for each `examples:`/`example:` of a media type or parameter."""
    found = []

    def media(where: str, pointer: str, content: dict[str, Any]) -> None:
        for mime, media_type in content.items():
            p = f"{pointer}/content/{escape_pointer(mime)}"
            if "example" in media_type:
                value = media_type["example"]
                found.append(pytest.param(f"{p}/schema", value, id=f"{where} example"))
            for name, example in media_type.get("examples", {}).items():
                value = resolve(example)["value"]
                found.append(pytest.param(f"{p}/schema", value, id=f"{where} {name}"))

    for path, method, op in operations():
        op_ptr = f"/paths/{escape_pointer(path)}/{method}"
        oid = op["operationId"]
        if "requestBody" in op:
            media(f"{oid} request", f"{op_ptr}/requestBody", resolve(op["requestBody"])["content"])
        for status, response in op["responses"].items():
            ptr = f"{op_ptr}/responses/{status}"
            if "$ref" in response:
                ptr = response["$ref"][1:]
            media(f"{oid} {status}", ptr, resolve(response).get("content", {}))
        for i, param in enumerate(op.get("parameters", [])):
            param = resolve(param)
            for name, example in param.get("examples", {}).items():
                value = resolve(example)["value"]
                schema_ptr = f"{op_ptr}/parameters/{i}/schema"
                found.append(pytest.param(schema_ptr, value, id=f"{oid} {param['name']} {name}"))
    return found


def schema_examples() -> list[Any]:
    """(schema pointer, value) for every `examples` list inside components/schemas."""
    found = []

    def walk(pointer: str, schema: Any) -> None:
        if not isinstance(schema, dict):
            return
        for i, value in enumerate(schema.get("examples", [])):
            found.append(pytest.param(pointer, value, id=f"{pointer}[{i}]"))
        for key in SCHEMA_KEYWORDS:
            walk(f"{pointer}/{key}", schema.get(key))
        for key in SCHEMA_LIST_KEYWORDS:
            for i, sub in enumerate(schema.get(key, [])):
                walk(f"{pointer}/{key}/{i}", sub)
        for key in SCHEMA_MAP_KEYWORDS:
            for name, sub in schema.get(key, {}).items():
                walk(f"{pointer}/{key}/{escape_pointer(name)}", sub)

    for name, schema in load_spec()["components"]["schemas"].items():
        walk(f"/components/schemas/{escape_pointer(name)}", schema)
    return found


def test_every_operation_declares_the_error_statuses_it_can_get() -> None:
    declared: dict[str, set[str]] = {}
    for oid, status, _ in error_responses():
        declared.setdefault(oid, set()).add(status)
    missing = {}
    for _, _, op in operations():
        oid = op["operationId"]
        expected = set(EVERY_CALL_ERRORS)
        if op.get("x-sharkapi-paid"):
            expected.add("402")
        if any(resolve(p).get("in") == "path" for p in op.get("parameters", [])):
            expected.add("404")
        if expected - declared.get(oid, set()):
            missing[oid] = sorted(expected - declared.get(oid, set()))
    assert not missing, f"operations missing documented error statuses: {missing}"


@pytest.mark.parametrize(("operation", "status", "response"), error_responses())
def test_error_response_has_a_named_example_of_error(
    operation: str, status: str, response: dict[str, Any]
) -> None:
    media_type = response["content"]["application/json"]
    assert media_type["schema"] == {"$ref": "#/components/schemas/Error"}
    assert media_type.get("examples"), f"{operation} {status} has no named example"
    for name, example in media_type["examples"].items():
        validator_for("/components/schemas/Error").validate(resolve(example)["value"])
        assert resolve(example).get("summary"), f"{operation} {status} {name} has no summary"
    if status in ("429", "503"):
        headers = response.get("headers", {})
        assert "Retry-After" in headers, f"{operation} {status} lacks Retry-After"


@pytest.mark.parametrize(("schema_pointer", "value"), media_examples())
def test_media_example_validates(schema_pointer: str, value: Any) -> None:
    validator_for(schema_pointer).validate(value)


@pytest.mark.parametrize(("schema_pointer", "value"), schema_examples())
def test_schema_example_validates(schema_pointer: str, value: Any) -> None:
    validator_for(schema_pointer).validate(value)


def test_examples_were_found() -> None:
    # Guards the walkers above: an empty parametrize would pass silently.
    assert len(media_examples()) >= 4 + 2 + 3 + 7  # request, 202, 200 and error examples
    assert len(schema_examples()) >= 3


def test_formats_used_by_the_spec_are_really_checked() -> None:
    checked = Draft202012Validator.FORMAT_CHECKER.checkers
    assert "date-time" in checked, "install rfc3339-validator: date-time examples go unchecked"
    bad = {"job_id": "job_1", "status": "queued", "estimated_cost": "$0.01",
           "poll_url": "https://x.example/j", "created_at": "yesterday"}  # fmt: skip
    assert not validator_for("/components/schemas/Job").is_valid(bad)
