"""Client-side validation of `submit` agrees with the spec's GenerateRequest, both ways.

Bodies come from schemathesis's strategies for `POST /v1/generate`:
- positive (100 examples): every body the schema accepts passes `submit`'s validation and
  goes out unchanged (json.loads of the sent body == the case body). The spec's `image`
  pattern allows any base64, but `submit` (rightly, per the spec's prose) wants a PNG or
  JPEG, so a drawn `image` is replaced by the base64 of a real 1x1 PNG.
- negative, body component negative only (100 examples): `submit` raises
  InvalidRequestError and sends nothing. A body with an unknown key or a missing required
  key cannot be written as a `submit(prompt, mode=..., image=..., image_strength=...)` call
  at all: Python refuses it with TypeError. That is a refusal by the language, not by
  validation, and the test says so; the same unknown keys given through `extra_fields`
  are refused by validation. A body without `mode` goes out with the SDK's default mode
  (the documented rule). The private `validate_generate` is also checked directly with
  the values it can take.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from sharkapi_ext import DEFAULT_MODE, InvalidRequestError, SharkAPI
from sharkapi_ext._validation import validate_generate

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"

PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    "AAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
)
ACCEPTED = {
    "job_id": "job_1",
    "status": "queued",
    "estimated_cost": "$0.02",
    "poll_url": "http://127.0.0.1/v1/jobs/job_1",
    "created_at": "2024-01-15T10:23:44Z",
}
KEYS = {"prompt", "mode", "image", "image_strength"}
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

SCHEMA = schemathesis.openapi.from_path(SPEC)
GENERATE = SCHEMA["/v1/generate"]["POST"]


def negative_body(case: Any) -> bool:
    component = case.meta.components.get(ParameterLocation.BODY)
    return component is not None and component.mode is GenerationMode.NEGATIVE


POSITIVE_BODIES = GENERATE.as_strategy(generation_mode=GenerationMode.POSITIVE).map(
    lambda case: case.body
)
NEGATIVE_BODIES = (
    GENERATE.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    .filter(negative_body)
    .map(lambda case: case.body)
)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        return httpx.Response(202, json=ACCEPTED)


def client(recorder: Recorder) -> tuple[SharkAPI, httpx.Client]:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    api = SharkAPI(
        "sk_test_x", base_url="http://127.0.0.1", http_client=http, max_retries=0, sleep=no_sleep
    )
    return api, http


def no_sleep(_seconds: float) -> None:
    raise AssertionError("nothing should be retried here")


def as_call(body: dict[str, Any]) -> dict[str, Any]:
    """The submit() keyword arguments for a body (an image string as a str, or its bytes)."""
    kwargs = dict(body)
    image = kwargs.get("image")
    if isinstance(image, str):
        try:
            kwargs["image"] = base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            kwargs["image"] = image  # a str is a path to submit; this one does not exist
    return kwargs


@PROPERTY
@given(body=POSITIVE_BODIES)
def test_every_valid_body_passes_and_goes_out_unchanged(body: dict[str, Any]) -> None:
    if "image" in body:
        body = {**body, "image": PNG_1X1}
    recorder = Recorder()
    api, http = client(recorder)
    with http, api:
        kwargs = as_call(body)
        job = api.submit(kwargs.pop("prompt"), **kwargs)
    assert job.job_id == "job_1"
    assert len(recorder.sent) == 1
    sent = recorder.sent[0]
    assert sent.method == "POST"
    assert sent.url.path == "/v1/generate"
    assert sent.headers["content-type"].startswith("application/json")
    assert json.loads(sent.content) == body


@PROPERTY
@given(body=NEGATIVE_BODIES)
def test_every_invalid_body_is_refused_before_sending(body: Any) -> None:
    recorder = Recorder()
    api, http = client(recorder)
    with http, api:
        if not isinstance(body, dict) or set(body) - KEYS or "prompt" not in body:
            # Not expressible as a submit() call: a non-object body, an unknown key or a
            # missing prompt. Python itself refuses such a call; an unknown key sent
            # through `extra_fields` is refused by validation.
            kwargs = body if isinstance(body, dict) else {"body": body}
            with pytest.raises(TypeError):
                api.submit(**{str(k): v for k, v in kwargs.items()})
            unknown = set(body) - KEYS if isinstance(body, dict) else set()
            if unknown and isinstance(body.get("prompt"), str):
                with pytest.raises(InvalidRequestError):
                    api.submit(body["prompt"], extra_fields={k: body[k] for k in unknown})
        elif "mode" not in body:
            # The SDK's rule: `mode` defaults to DEFAULT_MODE and is always sent.
            kwargs = as_call(body)
            try:
                api.submit(kwargs.pop("prompt"), **kwargs)
            except InvalidRequestError:
                assert recorder.sent == []
            else:
                assert json.loads(recorder.sent[0].content) == {**body, "mode": DEFAULT_MODE}
            return
        elif any(body.get(key, 0) is None for key in ("image", "image_strength")):
            # JSON null for an optional field: in Python, None means "not given", so the
            # call can only ask for the field to be left out. Either the rest is refused,
            # or the body sent is the rest, without any null.
            kwargs = as_call(body)
            try:
                api.submit(kwargs.pop("prompt"), **kwargs)
            except InvalidRequestError:
                assert recorder.sent == []
            else:
                sent = json.loads(recorder.sent[0].content)
                assert sent == {k: v for k, v in body.items() if v is not None}
            return
        else:
            kwargs = as_call(body)
            with pytest.raises(InvalidRequestError):
                api.submit(kwargs.pop("prompt"), **kwargs)
            with pytest.raises(InvalidRequestError):
                validate_generate(
                    body["prompt"], body["mode"], body.get("image"), body.get("image_strength")
                )
    assert recorder.sent == []


@settings(max_examples=100, deadline=None)
@given(extra=st.dictionaries(st.text(min_size=1).filter(lambda k: k not in KEYS), st.none()))
def test_unknown_keys_are_a_type_error_not_a_silent_drop(extra: dict[str, None]) -> None:
    """The spec forbids unknown fields; submit() has no **kwargs through which one could pass."""
    recorder = Recorder()
    api, http = client(recorder)
    with http, api:
        if extra:
            with pytest.raises(TypeError):
                api.submit("a shark", mode="1k", **extra)
    assert recorder.sent == []
