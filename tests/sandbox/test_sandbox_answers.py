"""The sandbox's answers follow the spec's schemas and documented responses (issue 25).

A field the spec adds is sent, a field it renames or removes is no longer sent (and
the sandbox says which), every error status the spec documents can be forced with the
spec's code, and a response header the spec documents is on every answer it documents.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import httpx
import pytest
import sharkapi_spec as spec
from sandbox_helpers import FakeClock

from sharkapi_ext.sandbox import _answers
from sharkapi_ext.sandbox._faults import FAULT_NAMES

pytestmark = pytest.mark.anyio

DONE = 3.5  # past the fixture's 1 s queued + 2 s processing
ERRORS = [
    (op, status, facts)
    for op, answers in spec.RESPONSES.items()
    for status, facts in answers.items()
    if status >= 400
]


async def _lifecycle(api: httpx.AsyncClient, clock: FakeClock) -> tuple[httpx.Response, ...]:
    job = await api.post("/v1/generate", json={"prompt": "p", "mode": spec.DEFAULT_MODE})
    queued = await api.get(f"/v1/jobs/{job.json()['job_id']}")
    clock.advance(DONE)
    done = await api.get(f"/v1/jobs/{job.json()['job_id']}")
    return job, queued, done


async def test_answers_have_exactly_the_specs_fields_in_its_order(
    api: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "sharkapi_ext.sandbox"):
        job, queued, done = await _lifecycle(api, clock)
    assert list(job.json()) == list(spec.JOB_FIELDS)
    assert list(queued.json()) == list(spec.JOB_STATUS_FIELDS)
    assert list(done.json()) == list(spec.JOB_STATUS_FIELDS)
    # Every field the sandbox fills in is one the spec declares: a rename or removal in
    # openapi.yaml fails here, naming the field.
    assert "no longer declares" not in caplog.text, caplog.text


async def test_a_renamed_and_an_added_field_follow_the_schema(
    api: httpx.AsyncClient,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As after a regenerated spec that renames image_url and adds a nullable `seed`.
    schema: dict[str, Any] = copy.deepcopy(dict(spec.JOB_STATUS_SCHEMA))
    props = schema["properties"]
    schema["properties"] = {
        ("image_uri" if k == "image_url" else k): v for k, v in props.items()
    } | {"seed": {"type": ["integer", "null"]}, "tier": {"type": "string", "enum": ["std"]}}
    schema["required"] = [*schema["required"], "tier"]
    monkeypatch.setattr(spec, "JOB_STATUS_SCHEMA", schema)
    monkeypatch.setattr(_answers, "_warned", set())
    with caplog.at_level(logging.WARNING, "sharkapi_ext.sandbox"):
        _, _, done = await _lifecycle(api, clock)
    body = done.json()
    assert list(body) == list(schema["properties"])
    assert "image_url" not in body
    assert body["image_uri"] is None  # the sandbox cannot know what a new name means
    assert body["seed"] is None  # optional and nullable: null
    assert body["tier"] == "std"  # required: a value that fits
    assert "no longer declares 'image_url' in JobStatus" in caplog.text


def test_every_documented_error_status_is_a_fault_name() -> None:
    for _, status, _ in ERRORS:
        assert str(status) in FAULT_NAMES


@pytest.mark.parametrize(
    ("op", "status", "facts"), ERRORS, ids=[f"{op}-{status}" for op, status, _ in ERRORS]
)
async def test_every_documented_error_status_can_be_forced_with_the_specs_code(
    api: httpx.AsyncClient, op: str, status: int, facts: spec.ResponseFacts
) -> None:
    headers = {"X-Sandbox-Fault": str(status)}
    if op == "generateImage":
        answer = await api.post(
            "/v1/generate", json={"prompt": "p", "mode": spec.DEFAULT_MODE}, headers=headers
        )
    else:
        answer = await api.get("/v1/jobs/job_0123456789abcdef", headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == facts["error_code"]
    assert answer.json()["error"]["message"]
    for name in facts["headers"]:
        assert name in answer.headers  # Retry-After on 429 and 503


async def test_the_sandboxs_own_errors_carry_the_specs_codes(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/v1/jobs/job_0123456789abcdef")
    bad = await api.post("/v1/generate", json={"mode": spec.DEFAULT_MODE})
    unauthorized = await api.get("/v1/jobs/job_x", headers={"Authorization": "nope"})
    for answer in (unknown, bad, unauthorized):
        documented = spec.RESPONSES["getJob"].get(answer.status_code)
        documented = documented or spec.RESPONSES["generateImage"][answer.status_code]
        assert answer.json()["error"]["code"] == documented["error_code"]


async def test_a_documented_header_is_on_every_answer_that_documents_it(
    api: httpx.AsyncClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after a regenerated spec that documents a rate-limit header on every /v1 answer.
    header = {"type": "integer", "minimum": 0, "examples": [57]}
    responses = {
        op: {
            code: {**facts, "headers": {**facts["headers"], "X-RateLimit-Remaining": header}}
            for code, facts in answers.items()
        }
        for op, answers in spec.RESPONSES.items()
    }
    monkeypatch.setattr(spec, "RESPONSES", responses)
    _answers.documented_headers.cache_clear()
    try:
        job, queued, done = await _lifecycle(api, clock)
        missing = await api.get("/v1/jobs/job_0123456789abcdef")
        limited = await api.get("/v1/jobs/job_x", headers={"X-Sandbox-Fault": "429"})
    finally:
        _answers.documented_headers.cache_clear()
    for answer in (job, queued, done, missing, limited):
        assert answer.headers["x-ratelimit-remaining"] == "57", answer.status_code
    assert limited.headers["retry-after"]  # the sandbox's own value stays
    assert "x-ratelimit-remaining" not in (await api.get("/_sandbox/ledger")).headers
