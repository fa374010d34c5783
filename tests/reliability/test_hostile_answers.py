"""Hostile server answers, brute force and counted: any status, any body, any headers.

`submit` and `get_job` on both twins get one drawn answer each (no retries, sleeps
skipped): the call must return a parsed result or raise a `SharkAPIError` subclass,
never anything else. (tests/contract holds the spec-driven version.)
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import scale

from sharkapi_ext import AsyncSharkAPI, Job, JobStatus, SharkAPI, SharkAPIError

EXAMPLES = scale("SHARKAPI_HYPOTHESIS_N", 40) * 3
COUNTS: collections.Counter[str] = collections.Counter()
OUTCOMES: collections.Counter[str] = collections.Counter()
TOKEN = "sk_test_hostile_answers"
BASE = "http://127.0.0.1:9"

GOOD_JOB = {
    "job_id": "job_1",
    "status": "queued",
    "mode": "1k",
    "created_at": "2024-01-01T00:00:00Z",
    "estimated_cost": "$0.01",
    "poll_url": BASE + "/v1/jobs/job_1",
    "updated_at": None,
    "cost": None,
    "image_url": None,
    "error": None,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["$0.01", "$-1", "$NaN", "2024-01-01T00:00:00Z", "job_1", "complete"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_job(draw: st.DrawFn) -> bytes:
    """The right shape with some fields removed, retyped or added."""
    body = dict(GOOD_JOB)
    for key in draw(st.sets(st.sampled_from(sorted(GOOD_JOB)))):
        if draw(st.booleans()):
            body.pop(key)
        else:
            body[key] = draw(json_values)
    body.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    return json.dumps(body).encode()


BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            b'{"job_id": "job_1", "status": "que',
            b"null",
            b"[]",
            b'"just a string"',
            b'{"error": "text"}',
            b'{"error": {"code": 5, "message": ["x"]}}',
            b'{"error": {"code": "x", "message": "' + b"m" * 100_000 + b'"}}',
            b"[" * 200_000,  # nesting deeper than json's recursion limit
            b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
            b"x" * (2 * 1024 * 1024),  # over the answer cap
            b"\xff\xfe\x00\x00garbage",
            json.dumps(GOOD_JOB).encode()[:-1],
        ]
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_job(),
)
STATUSES = st.one_of(
    st.sampled_from([200, 201, 202, 204, 301, 302, 304, 307, 400, 401, 402, 403, 404, 418, 422]),
    st.sampled_from([429, 500, 502, 503, 504, 599]),
    st.integers(100, 599),
)
HEADERS = st.dictionaries(
    st.sampled_from(
        ["Retry-After", "Content-Type", "Location", "X-Request-Id", "Content-Encoding"]
    ),
    st.sampled_from(
        [
            "0",
            "-5",
            "nan",
            "inf",
            "1e309",
            "99999999999",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "soon",
            "text/html",
            "application/json",
            "http://evil.example/x",
            "gzip",
            "br",
            "",
        ]
    ),
    max_size=3,
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[int, bytes, dict[str, str]]:
    status = draw(STATUSES)
    body = draw(BODIES)
    headers = draw(HEADERS)
    if headers.get("Content-Encoding") == "gzip" and draw(st.booleans()):
        body = gzip.compress(body)
    return status, body, headers


async def _no_sleep(seconds: float) -> None:
    return None


def _call(twin: str, op: str, answer: tuple[int, bytes, dict[str, str]]) -> object:
    status, body, headers = answer

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    transport = httpx.MockTransport(handler)
    options = {"base_url": BASE, "timeout": 2.0, "max_retries": 0}
    if twin == "sync":
        with (
            httpx.Client(transport=transport) as http,
            SharkAPI(TOKEN, http_client=http, sleep=lambda s: None, **options) as client,
        ):
            return (
                client.submit("a shark", mode="1k") if op == "submit" else client.get_job("job_1")
            )

    async def run() -> object:
        async with (
            httpx.AsyncClient(transport=transport) as http,
            AsyncSharkAPI(TOKEN, http_client=http, sleep=_no_sleep, **options) as client,
        ):
            if op == "submit":
                return await client.submit("a shark", mode="1k")
            return await client.get_job("job_1")

    return asyncio.run(run())


@pytest.mark.parametrize("twin", ["sync", "async"])
@pytest.mark.parametrize("op", ["submit", "get_job"])
def test_hostile_answers(op: str, twin: str) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(answers())
    def run(answer: tuple[int, bytes, dict[str, str]]) -> None:
        COUNTS[f"{op} ({twin})"] += 1
        try:
            result = _call(twin, op, answer)
        except SharkAPIError as exc:
            OUTCOMES[type(exc).__name__] += 1
            str(exc), repr(exc)  # both must work on any answer
            return
        except Exception as exc:
            status, body, headers = answer
            pytest.fail(
                f"{op} ({twin}) on HTTP {status} {headers} {body[:80]!r}...: "
                f"{type(exc).__name__}: {str(exc)[:200]}"
            )
        OUTCOMES["parsed " + type(result).__name__] += 1
        assert isinstance(result, Job | JobStatus)

    run()
