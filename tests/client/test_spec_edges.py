"""Property tests at the spec's edges, with strategies built from the spec's limits.

The strategies draw exactly the limits (`maxLength`, `maxLength + 1`, `minLength - 1`,
`minimum`, `maximum` and just beyond), every enum value and one value the enum does not
have, besides ordinary values in between. The oracle is openapi.yaml itself, read by a JSON
Schema validator (tests/schema_documents.SPEC), not the generated facts the client uses: the
client's verdict must match the schema's on every draw. When the spec changes, the
strategies and the oracle move with it.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import sharkapi_spec as spec
from client_helpers import PNG
from hypothesis import HealthCheck, example, find, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schema_documents import SPEC

from sharkapi_ext import InvalidRequestError
from sharkapi_ext._validation import validate_generate

# openapi.yaml itself as the oracle: its GenerateRequest, `$ref`s resolved in the document.
REQUEST = Draft202012Validator({**SPEC, "$ref": "#/components/schemas/GenerateRequest"})
PROPS = spec.GENERATE_REQUEST_SCHEMA["properties"]
PROMPT_MIN, PROMPT_MAX = PROPS["prompt"]["minLength"], PROPS["prompt"]["maxLength"]
MODES = PROPS["mode"]["enum"]
UNKNOWN_MODE = "".join(MODES) + "x"  # longer than every mode, so in none of them
LOW, HIGH = PROPS["image_strength"]["minimum"], PROPS["image_strength"]["maximum"]
EDGE_LENGTHS = [PROMPT_MIN - 1, PROMPT_MIN, PROMPT_MAX, PROMPT_MAX + 1]

prompt_lengths = st.sampled_from(EDGE_LENGTHS) | st.integers(0, PROMPT_MAX + 1)
# Code points of 1, 2, 3 and 4 UTF-8 bytes: the limit counts code points, not bytes.
prompts = st.tuples(prompt_lengths, st.sampled_from(["x", "é", "鮫", "🦈"])).map(
    lambda pair: pair[1] * pair[0]
)
modes = st.sampled_from([*MODES, UNKNOWN_MODE])
strengths = (
    st.none()
    | st.sampled_from(
        [LOW, HIGH, (LOW + HIGH) / 2, math.nextafter(LOW, -1), math.nextafter(HIGH, 2)]
    )
    | st.floats(LOW - 1, HIGH + 1)
)
EDGES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def schema_accepts(prompt: str, mode: str, image: bool, strength: float | None) -> bool:
    body: dict[str, Any] = {"prompt": prompt, "mode": mode}
    if image:
        body["image"] = "AAAA"
    if strength is not None:
        body["image_strength"] = strength
    return REQUEST.is_valid(body)


def client_accepts(prompt: str, mode: str, image: bool, strength: float | None) -> bool:
    try:
        validate_generate(prompt, mode, PNG if image else None, strength)
    except InvalidRequestError:
        return False
    return True


@EDGES
@given(prompt=prompts, mode=modes, image=st.booleans(), strength=strengths)
@example(prompt="x" * PROMPT_MAX, mode=MODES[0], image=False, strength=None)
@example(prompt="🦈" * (PROMPT_MAX + 1), mode=MODES[-1], image=False, strength=None)
@example(prompt="x", mode=UNKNOWN_MODE, image=False, strength=None)
@example(prompt="x", mode=MODES[0], image=True, strength=HIGH)
@example(prompt="x", mode=MODES[0], image=False, strength=LOW)
def test_the_client_accepts_exactly_what_the_spec_accepts(
    prompt: str, mode: str, image: bool, strength: float | None
) -> None:
    assert client_accepts(prompt, mode, image, strength) == schema_accepts(
        prompt, mode, image, strength
    )


@pytest.mark.parametrize("length", EDGE_LENGTHS)
def test_the_length_strategy_reaches_each_edge(length: int) -> None:
    assert find(prompt_lengths, lambda n: n == length) == length


@pytest.mark.parametrize("mode", [*MODES, UNKNOWN_MODE])
def test_the_mode_strategy_reaches_every_enum_value_and_one_unknown(mode: str) -> None:
    assert find(modes, lambda m: m == mode) == mode
    assert UNKNOWN_MODE not in MODES


@pytest.mark.parametrize("edge", [LOW, HIGH, math.nextafter(HIGH, 2)])
def test_the_strength_strategy_reaches_each_edge(edge: float) -> None:
    assert find(strengths, lambda s: s == edge) == edge


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@EDGES
@given(
    prompt=prompts | json_values,
    mode=modes | json_values,
    image=st.sampled_from([None, "AAAA", "A", "AAA=", "$$$$"]),
    strength=strengths | json_values,
    extra=st.dictionaries(
        st.sampled_from(["prompt", "seed", "style", "image_strength"]) | st.text(max_size=4),
        json_values,
        max_size=2,
    ),
)
def test_the_fast_schema_check_agrees_with_jsonschema(
    prompt: Any, mode: Any, image: str | None, strength: Any, extra: dict[str, Any]
) -> None:
    """jsonschema-rs (the `speedups` extra) may only ever skip jsonschema's own verdict."""
    from sharkapi_ext._validation import _fast_request_validator, _request_validator

    fast = _fast_request_validator()
    assert fast is not None, "the dev install has the speedups extra"
    body: dict[str, Any] = {"prompt": prompt, "mode": mode, **extra}
    for name, value in (("image", image), ("image_strength", strength)):
        if value is not None:
            body[name] = value
    assert fast.is_valid(body) == _request_validator().is_valid(body)


def test_without_the_fast_check_jsonschema_decides_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import sharkapi_ext._validation as validation

    consulted: list[dict[str, Any]] = []
    real = validation._request_validator()

    class Spy:
        def iter_errors(self, document: dict[str, Any]) -> Any:
            consulted.append(document)
            return real.iter_errors(document)

    monkeypatch.setattr(validation, "_fast_request_validator", lambda: None)
    monkeypatch.setattr(validation, "_request_validator", Spy)
    fields, _ = validate_generate("a shark", MODES[0], None, None)
    assert fields == {"prompt": "a shark", "mode": MODES[0]}
    assert consulted == [fields]
