"""Parsing answers: Job and JobStatus, broken 2xx bodies, and every error status."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from client_helpers import JOB_ID, STATUS_CLASSES, Twin, accepted, job_body, polled, status_body

import sharkapi_ext as sdk
from sharkapi_ext import APIStatusError, UnexpectedResponseError


def expected_class(status: int) -> type[APIStatusError]:
    if status in STATUS_CLASSES:
        return STATUS_CLASSES[status]
    return sdk.InternalServerError if status >= 500 else APIStatusError


def test_job_parses_money_and_time(twin: Twin) -> None:
    twin.script.add(accepted(estimated_cost="$0.30", extra_field={"x": 1}))
    job = twin().submit("a shark", mode="2k")
    assert job.job_id == JOB_ID
    assert job.status == "queued"
    assert job.estimated_cost == Decimal("0.30")
    assert isinstance(job.estimated_cost, Decimal)
    assert job.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert job.raw["extra_field"] == {"x": 1}
    with pytest.raises(AttributeError):
        job.status = "x"  # type: ignore[misc]


def test_job_status_parses_and_keeps_unknown_fields(twin: Twin) -> None:
    twin.script.add(
        polled("complete", updated_at="2025-01-02T03:05:00+00:00", seed=42, cost="$0.02")
    )
    status = twin().get_job(JOB_ID)
    assert status.is_terminal
    assert status.is_complete
    assert status.cost == Decimal("0.02")
    assert status.updated_at == datetime(2025, 1, 2, 3, 5, tzinfo=UTC)
    assert status.image_url == f"https://cdn.example.net/{JOB_ID}.png"
    assert status.raw["seed"] == 42
    assert status.error_code is None


def test_failed_status_has_error_detail(twin: Twin) -> None:
    twin.script.add(polled("failed"))
    status = twin().get_job(JOB_ID)
    assert status.is_terminal
    assert not status.is_complete
    assert (status.error_code, status.error_message) == ("failed_code", "it was failed")
    assert status.cost == Decimal("0.00")


@pytest.mark.parametrize("unknown", ["upscaling", "QUEUED", "complete ", "x" * 100])
def test_unknown_status_is_not_finished(twin: Twin, unknown: str) -> None:
    twin.script.add(polled(unknown))
    status = twin().get_job(JOB_ID)
    assert status.status == unknown
    assert not status.is_terminal


BROKEN_BODIES = {
    "html": b"<html><body>Bad gateway</body></html>",
    "empty": b"",
    "truncated": b'{"job_id": "job_abc123", "status": "que',
    "array": b"[]",
    "not utf-8": b"\xff\xfe{}",
    "deeply nested": b"[" * 200_000,
}


@pytest.mark.parametrize("body", list(BROKEN_BODIES.values()), ids=list(BROKEN_BODIES))
def test_broken_2xx_body(twin: Twin, body: bytes) -> None:
    twin.script.add(httpx.Response(202, content=body), httpx.Response(200, content=body))
    client = twin()
    with pytest.raises(UnexpectedResponseError) as info:
        client.submit("a shark", mode="1k")
    assert info.value.status_code == 202
    with pytest.raises(UnexpectedResponseError) as info:
        client.get_job(JOB_ID)
    assert info.value.job_id == JOB_ID  # the poll knows which job it asked about


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("job_id", None),
        ("status", 3),
        ("status", ""),
        ("estimated_cost", 0.01),
        ("estimated_cost", "0.01"),
        ("estimated_cost", "$1e3"),
        ("created_at", "yesterday"),
        ("poll_url", None),
    ],
)
def test_submit_answer_with_bad_field_keeps_job_id(twin: Twin, field: str, value: object) -> None:
    body = job_body()
    if value is None:
        del body[field]
    else:
        body[field] = value
    twin.script.add(httpx.Response(202, json=body))
    with pytest.raises(UnexpectedResponseError, match=field) as info:
        twin().submit("a shark", mode="1k")
    if field != "job_id":
        # The job exists and may be charged: its id must not be lost.
        assert info.value.job_id == JOB_ID


@pytest.mark.parametrize(
    ("field", "value"),
    [("mode", None), ("cost", 1), ("image_url", 5), ("error", "boom"), ("updated_at", "no")],
)
def test_poll_answer_with_bad_field(twin: Twin, field: str, value: object) -> None:
    body = status_body()
    if value is None:
        del body[field]
    else:
        body[field] = value
    twin.script.add(httpx.Response(200, json=body))
    with pytest.raises(UnexpectedResponseError, match=field) as info:
        twin().get_job(JOB_ID)
    assert info.value.job_id == JOB_ID


def test_poll_answer_about_another_job(twin: Twin) -> None:
    twin.script.add(polled(job_id="job_other"))
    with pytest.raises(UnexpectedResponseError, match="job_other"):
        twin().get_job(JOB_ID)


ERROR_BODIES = {
    "json": lambda s: httpx.Response(s, json={"error": {"code": f"c{s}", "message": "why"}}),
    "html": lambda s: httpx.Response(s, html="<html><h1>Proxy says no</h1></html>"),
    "empty": lambda s: httpx.Response(s),
    "odd json": lambda s: httpx.Response(s, json={"error": "plain text", "n": [1]}),
    "truncated": lambda s: httpx.Response(s, content=b'{"error": {"code": "x'),
}


@pytest.mark.parametrize("kind", list(ERROR_BODIES))
def test_every_error_status_maps_to_its_class(twin: Twin, kind: str) -> None:
    client = twin(max_retries=0)
    for status in [*range(400, 600)]:
        headers = {"X-Request-Id": f"req-{status}"}
        response = ERROR_BODIES[kind](status)
        response.headers.update(headers)
        twin.script.add(response)
        with pytest.raises(APIStatusError) as info:
            client.get_job(JOB_ID)
        err = info.value
        assert type(err) is expected_class(status), status
        assert err.status_code == status
        assert err.request_id == f"req-{status}"
        assert err.job_id == JOB_ID
        assert f"HTTP {status}" in str(err)
        if kind == "json":
            assert err.code == f"c{status}"
            assert "why" in err.message
        elif kind == "html":
            assert err.code is None
            assert "Proxy says no" in err.message
            assert "Proxy says no" in str(err.body)
        elif kind == "odd json":
            assert "plain text" in err.message
        if status == 429:
            assert err.retry_after is None  # type: ignore[attr-defined]
        if status == 503:
            assert err.retry_after == 30.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(("status", "header"), [(429, "7"), (503, "12"), (503, "0")])
def test_retry_after_is_kept(twin: Twin, status: int, header: str) -> None:
    twin.script.add(httpx.Response(status, headers={"Retry-After": header}))
    with pytest.raises(APIStatusError) as info:
        twin(max_retries=0).get_job(JOB_ID)
    assert info.value.retry_after == float(header)  # type: ignore[attr-defined]


def test_huge_error_body_is_cut(twin: Twin) -> None:
    twin.script.add(httpx.Response(400, content=b"A" * 3_000_000))
    with pytest.raises(sdk.BadRequestError) as info:
        twin().get_job(JOB_ID)
    assert len(str(info.value)) < 1000


def test_odd_2xx_is_parsed(twin: Twin) -> None:
    twin.script.add(httpx.Response(299, json=status_body()))
    assert twin().get_job(JOB_ID).status == "queued"


def test_redirect_is_not_followed(twin: Twin) -> None:
    twin.script.add(httpx.Response(302, headers={"Location": "https://evil.example/steal"}))
    with pytest.raises(UnexpectedResponseError, match="redirect") as info:
        twin().get_job(JOB_ID)
    assert info.value.status_code == 302
    assert len(twin.script.requests) == 1


def test_oversized_2xx_answer(twin: Twin) -> None:
    twin.script.add(httpx.Response(200, content=b" " * (2 * 1024 * 1024)))
    with pytest.raises(UnexpectedResponseError, match="over"):
        twin().get_job(JOB_ID)
