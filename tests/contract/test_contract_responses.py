"""Any answer the spec allows parses; any other answer is a SharkAPIError, never a crash.

Documents are drawn from the spec's own Job and JobStatus schemas with schemathesis (each
wrapped as the request body of a throw-away operation, as tests/spec does), then sent back
by an httpx.MockTransport to the real `SharkAPI` client:
- allowed (100 examples per endpoint, plus extra fields and, for JobStatus, an unknown
  status mixed in): `submit` returns a Job / `get_job` a JobStatus, all fields kept in raw.
- not allowed (negative generation, 100 examples per endpoint): a tolerant parse or a
  SharkAPIError subclass.
- any status from 200 to 599 with any body (200 examples: HTML, empty, truncated JSON,
  random bytes, a 2 MB body): a result or a SharkAPIError subclass, nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_documents import documents
from schemathesis.generation import GenerationMode

from sharkapi_ext import Job, JobStatus, SharkAPI, SharkAPIError

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
JOB_ID = "job_8f2a9d3c"


EXTRA = st.dictionaries(
    st.text(min_size=1, max_size=10).map(lambda k: f"x_{k}"),
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    max_size=3,
)
UNKNOWN_STATUS = st.text(min_size=1, max_size=20).filter(
    lambda s: s not in {"complete", "failed", "moderated"}
)


def answering(status: int, content: bytes, headers: dict[str, str] | None = None) -> SharkAPI:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers or {})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return SharkAPI(
        "sk_test_x",
        base_url="http://127.0.0.1",
        http_client=http,
        max_retries=0,
        sleep=lambda _s: None,
    )


def submit_with(status: int, content: bytes, headers: dict[str, str] | None = None) -> Any:
    api = answering(status, content, headers)
    with api, api._http:
        return api.submit("a shark", mode="1k")


def get_with(status: int, content: bytes, headers: dict[str, str] | None = None) -> Any:
    api = answering(status, content, headers)
    with api, api._http:
        return api.get_job(JOB_ID)


@PROPERTY
@given(doc=documents("Job", GenerationMode.POSITIVE), extra=EXTRA)
def test_every_allowed_job_parses(doc: dict[str, Any], extra: dict[str, Any]) -> None:
    doc = {**extra, **doc}
    job = submit_with(202, json.dumps(doc).encode())
    assert isinstance(job, Job)
    assert job.job_id == doc["job_id"]
    assert dict(job.raw) == doc


@PROPERTY
@given(
    doc=documents("JobStatus", GenerationMode.POSITIVE),
    extra=EXTRA,
    status=st.none() | UNKNOWN_STATUS,
)
def test_every_allowed_job_status_parses(
    doc: dict[str, Any], extra: dict[str, Any], status: str | None
) -> None:
    doc = {**extra, **doc, "job_id": JOB_ID}
    if status is not None:
        doc["status"] = status
    result = get_with(200, json.dumps(doc).encode())
    assert isinstance(result, JobStatus)
    assert result.status == doc["status"]
    assert dict(result.raw) == doc
    if status is not None:
        assert not result.is_terminal


def encode(doc: Any) -> bytes:
    """Negative generation also draws raw payloads (bytes); send those as they are."""
    return doc if isinstance(doc, bytes) else json.dumps(doc).encode()


def ends_well(call: Any, *args: Any) -> None:
    try:
        result = call(*args)
    except SharkAPIError:
        return
    assert isinstance(result, Job | JobStatus)


@PROPERTY
@given(doc=documents("Job", GenerationMode.NEGATIVE))
def test_every_disallowed_job_is_a_typed_error_or_tolerated(doc: Any) -> None:
    ends_well(submit_with, 202, encode(doc))


@PROPERTY
@given(doc=documents("JobStatus", GenerationMode.NEGATIVE))
def test_every_disallowed_job_status_is_a_typed_error_or_tolerated(doc: Any) -> None:
    if isinstance(doc, dict) and "job_id" not in doc:
        doc = {**doc, "job_id": JOB_ID}
    ends_well(get_with, 200, encode(doc))


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    st.just(b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    JSONISH.map(lambda v: json.dumps(v).encode()),
    JSONISH.map(lambda v: json.dumps(v).encode()).flatmap(
        lambda b: st.integers(0, max(len(b) - 1, 0)).map(lambda n: b[:n])
    ),
    st.just(b'{"job_id": "' + b"x" * (2 * 1024 * 1024) + b'"}'),
    st.just(b"\xff\xfe\x00garbage"),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.integers(200, 599),
    body=BODIES,
    retry_after=st.none() | st.text(max_size=12),
    submit=st.booleans(),
)
def test_any_status_with_any_body_is_a_result_or_a_typed_error(
    status: int, body: bytes, retry_after: str | None, submit: bool
) -> None:
    headers = {}
    if retry_after is not None and retry_after.isascii() and retry_after.isprintable():
        headers["Retry-After"] = retry_after
    ends_well(submit_with if submit else get_with, status, body, headers)
