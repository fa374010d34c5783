"""Property tests at the spec's edges, with strategies built from the spec's limits.

The strategies draw exactly the limits (`maxLength`, `maxLength + 1`, `minLength - 1`,
`minimum`, `maximum` and just beyond), every enum value and one value the enum does not
have, besides ordinary values in between. The oracle is openapi.yaml itself, read by a JSON
Schema validator (tests/schema_documents.SPEC), not the generated facts the client uses: the
client's verdict must match the schema's on every draw. When the spec changes, the
strategies and the oracle move with it.
"""

from __future__ import annotations

import copy
import math
from types import MappingProxyType
from typing import Any

import pytest
import sharkapi_spec as spec
from client_helpers import PNG
from hypothesis import HealthCheck, example, find, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schema_documents import SPEC

import sharkapi_ext._validation as validation
from sharkapi_ext import InvalidRequestError, check_generate_request, check_prompts
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
    # (`extra_fields={}`: the full path; a plain prompt whose schema check is implied by
    # the typed checks asks no schema at all.)
    fields, _ = validate_generate("a shark", MODES[0], None, None, {})
    assert fields == {"prompt": "a shark", "mode": MODES[0]}
    assert consulted == [fields]


# -- the one-step check of a prompt and a mode (most lines of a batch) ---------------------

# Text that sits on the edges of "at least one character other than whitespace": what
# Python calls whitespace and ECMA does not (U+001C), and the reverse (U+FEFF).
edge_text = st.text(
    st.sampled_from([" ", "\t", "\n", "\x1c", "\x85", "\u2028", "\ufeff", "x", "🦈"]),
    max_size=6,
)


def verdict(check: Any) -> tuple[str, str] | None:
    try:
        check()
    except InvalidRequestError as exc:
        return exc.field, str(exc)
    return None


@EDGES
@given(
    prompt=prompts | edge_text | json_values,
    mode=modes | json_values,
    implied=st.booleans(),
    speedups=st.booleans(),
)
@example(prompt="\x1c", mode=MODES[0], implied=True, speedups=True)
@example(prompt="\ufeff", mode=MODES[0], implied=False, speedups=True)
def test_the_one_step_check_decides_as_the_full_one(
    prompt: Any, mode: Any, implied: bool, speedups: bool
) -> None:
    """`check_generate_request(prompt, mode=...)` takes a shorter path: same verdict, same error."""
    with pytest.MonkeyPatch.context() as patch:
        if not implied:  # the schema check asked for every request (a spec that asks more)
            patch.setattr(validation, "_plain_schema_implied", lambda: False)
        if not speedups:  # jsonschema-rs not installed
            patch.setattr(validation, "_fast_request_validator", lambda: None)
        # `extra_fields={}` adds no field, but takes the full path, check by check.
        full = verdict(lambda: validate_generate(prompt, mode, None, None, {}))
        assert verdict(lambda: check_generate_request(prompt, mode=mode)) == full
        fields = validation._plain_fields(prompt, mode)
        if fields is not None:
            assert full is None
            assert fields == validate_generate(prompt, mode, None, None, {})[0]
        elif implied and type(prompt) is str and type(mode) is str:
            assert full is not None  # implied: the one-step check refuses only what is refused


@EDGES
@given(
    many=st.lists(prompts | edge_text | json_values, max_size=8),
    mode=modes | json_values,
    implied=st.booleans(),
)
@example(many=["a shark", "\x1c", "🦈"], mode=MODES[0], implied=True)
@example(many=["a shark", "\ud800"], mode=MODES[0], implied=True)
@example(many=["a shark", "x" * (PROMPT_MAX + 1)], mode=MODES[0], implied=True)
def test_the_bulk_check_decides_as_one_check_per_prompt(
    many: list[Any], mode: Any, implied: bool
) -> None:
    """`check_prompts` refuses exactly what `check_generate_request` refuses, with its error."""
    with pytest.MonkeyPatch.context() as patch:
        if not implied:
            patch.setattr(validation, "_plain_schema_implied", lambda: False)
        one_by_one = [
            (index, found)
            for index, prompt in enumerate(many)
            if (found := verdict(lambda p=prompt: check_generate_request(p, mode=mode)))
        ]
        refused = [(index, (exc.field, str(exc))) for index, exc in check_prompts(many, mode=mode)]
        assert refused == one_by_one
        if validation._plain_prompts_pass(many, mode):
            assert one_by_one == []  # the bulk "yes" is never wrong


def test_the_bulk_check_takes_a_list_not_one_prompt() -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_prompts("a shark")
    assert info.value.field == "prompts"
    assert check_prompts([]) == []


def test_the_shipped_schema_asks_no_more_of_a_plain_request_than_the_checks() -> None:
    assert validation._plain_schema_implied()


def _later_schema(change: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = copy.deepcopy(dict(spec.GENERATE_REQUEST_SCHEMA))
    change(schema)
    monkeypatch.setattr(spec, "GENERATE_REQUEST_SCHEMA", MappingProxyType(schema))
    validation._clear_spec_caches()


def _require_seed(schema: dict[str, Any]) -> None:
    schema["properties"]["later_seed"] = {"type": "integer"}
    schema["required"] = [*schema["required"], "later_seed"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_require_seed, id="a new required field"),
        pytest.param(
            lambda s: s["properties"]["prompt"].update(format="hostname"), id="a prompt format"
        ),
        pytest.param(
            lambda s: s["properties"]["prompt"].update(maxLength=PROMPT_MAX - 1),
            id="a shorter prompt than the facts say",
        ),
        pytest.param(
            lambda s: s["properties"]["prompt"].update(pattern="^[a-z ]+$"),
            id="another prompt pattern",
        ),
        pytest.param(lambda s: s["properties"]["mode"].update(enum=[MODES[0]]), id="fewer modes"),
        pytest.param(lambda s: s.update(minProperties=3), id="an object rule"),
        pytest.param(
            lambda s: s["dependentRequired"].update(mode=["later_seed"]),
            id="mode needs another field",
        ),
        pytest.param(lambda s: s["properties"].pop("mode"), id="mode undeclared"),
    ],
)
def test_a_schema_that_asks_more_is_asked_for_every_request(
    change: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        _later_schema(change, monkeypatch)
        assert not validation._plain_schema_implied()
    finally:
        monkeypatch.undo()
        validation._clear_spec_caches()


def test_a_new_required_field_refuses_a_plain_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        _later_schema(_require_seed, monkeypatch)
        with pytest.raises(InvalidRequestError) as info:
            check_generate_request("a shark", mode=MODES[0])
        assert info.value.field == "later_seed"
    finally:
        monkeypatch.undo()
        validation._clear_spec_caches()
