"""The sans-I/O contract, stepped by hand: a flow yields actions and takes their results.

Each operation is a generator shared by both twins (`_flow`): it yields `Send` (or
`Sleep`), the driver performs it and sends back a `Reply` (or None), or throws the
transport's exception in. Stepping a flow directly pins that contract with no driver,
no transport and no clock but a fake one: what a flow asks for, in which order, and
what it returns or raises.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from client_helpers import JOB_ID, TOKEN, FakeClock, job_body, status_body

from sharkapi_ext import (
    APIConnectionError,
    AsyncSharkAPI,
    Job,
    JobStatus,
    NotFoundError,
    SharkAPI,
    SubmissionOutcomeUnknownError,
)
from sharkapi_ext._flow import Reply, Send, Sleep

JSON = httpx.Headers({"content-type": "application/json"})


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    merged = httpx.Headers(JSON)
    merged.update(headers or {})
    return Reply(status, merged, json.dumps(body).encode())


def unused(request: httpx.Request) -> httpx.Response:
    raise AssertionError("a stepped flow never reaches the transport")


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest) -> Iterator[SharkAPI | AsyncSharkAPI]:
    """A client of either twin, on a fake clock, without pacing (its own tests cover it)."""
    clock = FakeClock()
    transport = httpx.MockTransport(unused)
    if request.param == "sync":
        http = httpx.Client(transport=transport)
        made: Any = SharkAPI(TOKEN, http_client=http, clock=clock, sleep=clock.sleep, pacing=False)
        yield made
        made.close()
        http.close()
    else:
        ahttp = httpx.AsyncClient(transport=transport)
        made = AsyncSharkAPI(
            TOKEN, http_client=ahttp, clock=clock, sleep=clock.asleep, pacing=False
        )
        yield made
        asyncio.run(made.aclose())
        asyncio.run(ahttp.aclose())


def finish(flow: Any, result: Any) -> Any:
    """Send `result` in and return the flow's value (it must end there)."""
    with pytest.raises(StopIteration) as stop:
        flow.send(result)
    return stop.value.value


def test_get_job_yields_one_send_and_returns_the_parsed_status(client: Any) -> None:
    flow = client._get_job_flow(JOB_ID)
    action = next(flow)
    assert isinstance(action, Send)
    assert action.request.method == "GET"
    assert str(action.request.url) == f"https://api.sharkapi.dev/v1/jobs/{JOB_ID}"
    assert action.request.headers["Authorization"] == f"Bearer {TOKEN}"
    status = finish(flow, reply(200, status_body("processing")))
    assert isinstance(status, JobStatus)
    assert (status.job_id, status.status) == (JOB_ID, "processing")


def test_a_retried_poll_yields_sleep_for_retry_after_then_a_new_send(client: Any) -> None:
    flow = client._get_job_flow(JOB_ID)
    first = next(flow)
    pause = flow.send(reply(503, {"error": {"code": "busy", "message": "m"}}, {"Retry-After": "2"}))
    assert pause == Sleep(2.0)
    second = flow.send(None)
    assert isinstance(second, Send)
    assert second.request is not first.request  # each attempt is built anew
    assert finish(flow, reply(200, status_body())).job_id == JOB_ID


def test_a_connection_error_thrown_in_is_retried_after_a_backoff(client: Any) -> None:
    flow = client._get_job_flow(JOB_ID)
    sent = next(flow)
    pause = flow.throw(httpx.ConnectError("refused", request=sent.request))
    assert isinstance(pause, Sleep)
    assert 0 < pause.seconds <= 60
    assert isinstance(flow.send(None), Send)


def test_a_404_ends_the_flow_with_a_typed_error_and_no_retry(client: Any) -> None:
    flow = client._get_job_flow(JOB_ID)
    next(flow)
    with pytest.raises(NotFoundError) as info:
        flow.send(reply(404, {"error": {"code": "not_found", "message": "no such job"}}))
    assert info.value.job_id == JOB_ID


def test_submit_yields_a_post_and_returns_the_job(client: Any) -> None:
    flow = client._submit_flow("a shark", "1k", None, None)
    action = next(flow)
    assert isinstance(action, Send)
    assert action.request.method == "POST"
    assert json.loads(action.request.content) == {"prompt": "a shark", "mode": "1k"}
    job = finish(flow, reply(202, job_body()))
    assert isinstance(job, Job)
    assert job.job_id == JOB_ID


def test_a_submit_whose_answer_was_lost_is_never_sent_again(client: Any) -> None:
    flow = client._submit_flow("a shark", "1k", None, None)
    sent = next(flow)
    with pytest.raises(SubmissionOutcomeUnknownError):
        flow.throw(httpx.ReadError("reset", request=sent.request))


def test_a_submit_never_sent_is_retried_then_fails_typed(client: Any) -> None:
    flow = client._submit_flow("a shark", "1k", None, None)
    sent = next(flow)
    for _ in range(2):  # max_retries: two attempts more, each after a Sleep
        pause = flow.throw(httpx.ConnectError("refused", request=sent.request))
        assert isinstance(pause, Sleep)
        sent = flow.send(None)
        assert isinstance(sent, Send)
    with pytest.raises(APIConnectionError):
        flow.throw(httpx.ConnectError("refused", request=sent.request))
