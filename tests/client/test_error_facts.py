"""Each error's facts: could a paid job exist, is submitting again safe, is it the account's.

The CLI, the batch runner and the MCP server read these attributes instead of deciding
from exception types (issue 23), so every class and every flow that makes one is pinned
here: a wrong fact would tell a user or a model "retrying is safe" about a paid job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from client_helpers import API, JOB_ID, TOKEN, job_body

import sharkapi_ext as sdk
from sharkapi_ext import JobStatus, SharkAPI, job_outcome
from sharkapi_ext._exceptions import make_status_error

_STATUS = JobStatus(
    job_id=JOB_ID,
    status="failed",
    mode="1k",
    created_at=datetime(2025, 1, 2, tzinfo=UTC),
    updated_at=None,
    estimated_cost=Decimal("0.01"),
    cost=None,
    image_url=None,
    error_code="boom",
    error_message="it broke",
    poll_url=f"{API}/v1/jobs/{JOB_ID}",
    raw={},
)


def _status(
    code: int, *, after_submit: bool = False, job_id: str | None = None
) -> sdk.SharkAPIError:
    return make_status_error(
        code, httpx.Headers(), b"", retry_after=None, job_id=job_id, after_submit=after_submit
    )


# (error, job_may_exist, retry_safe, account_problem)
_FACTS: list[tuple[str, sdk.SharkAPIError, bool, bool, bool]] = [
    ("invalid request", sdk.InvalidRequestError("prompt", "empty"), False, True, False),
    ("400", _status(400, after_submit=True), False, True, False),
    ("401", _status(401, after_submit=True), False, True, True),
    ("402", _status(402, after_submit=True), False, True, True),
    ("403", _status(403, after_submit=True), False, True, True),
    ("404 of a named job", _status(404, job_id=JOB_ID), False, True, False),
    ("422", _status(422, after_submit=True), False, True, False),
    ("429", _status(429, after_submit=True), False, True, False),
    ("503", _status(503, after_submit=True), False, True, False),
    ("500 after a submit", _status(500, after_submit=True), True, False, False),
    ("500 of a read", _status(500, job_id=JOB_ID), True, False, False),
    ("500 of a read, no job", _status(500), False, True, False),
    ("409, a status with no class", _status(409, after_submit=True), False, True, False),
    ("connection refused", sdk.APIConnectionError("refused"), False, True, False),
    ("timeout of a poll", sdk.APITimeoutError("late", job_id=JOB_ID), True, False, False),
    ("submit outcome unknown", sdk.SubmissionOutcomeUnknownError("broke"), True, False, False),
    ("unreadable answer", sdk.UnexpectedResponseError("bad", status_code=200), False, True, False),
    ("download of a job", sdk.DownloadError("gone", job_id=JOB_ID), True, False, False),
    ("download of a url", sdk.DownloadError("gone"), False, True, False),
    ("client closed", sdk.ClientClosedError("closed"), False, True, False),
    (
        "spend cap",
        sdk.SpendCapExceededError(cap=Decimal(1), counted=Decimal(1), price=Decimal("0.01")),
        False,
        True,
        False,
    ),
    ("job failed", sdk.JobFailedError("failed", status=_STATUS), True, True, False),
    ("job moderated", sdk.JobModeratedError("moderated", status=_STATUS), True, True, False),
    (
        "wait timeout",
        sdk.WaitTimeoutError("late", job_id=JOB_ID, last_status=None),
        True,
        False,
        False,
    ),
]


@pytest.mark.parametrize(
    ("error", "may_exist", "retry_safe", "account"),
    [case[1:] for case in _FACTS],
    ids=[case[0] for case in _FACTS],
)
def test_each_error_carries_its_facts(
    error: sdk.SharkAPIError, may_exist: bool, retry_safe: bool, account: bool
) -> None:
    assert error.job_may_exist is may_exist
    assert error.retry_safe is retry_safe
    assert error.account_problem is account
    assert job_outcome(error) == (may_exist, error.job_id)


def test_every_exported_error_class_is_pinned_above() -> None:
    pinned = {type(case[1]) for case in _FACTS}
    exported = {
        obj
        for obj in vars(sdk).values()
        if isinstance(obj, type) and issubclass(obj, sdk.SharkAPIError)
    }
    # The abstract parents have no instances of their own in any flow.
    assert exported - pinned <= {sdk.SharkAPIError, sdk.JobError}, exported - pinned


def test_only_the_account_classes_are_account_problems() -> None:
    account = {
        cls
        for cls in vars(sdk).values()
        if isinstance(cls, type) and issubclass(cls, sdk.SharkAPIError) and cls.account_problem
    }
    assert account == {
        sdk.AuthenticationError,
        sdk.InsufficientBalanceError,
        sdk.PermissionDeniedError,
    }


def _reset(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("reset", request=request)


def _unreadable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202, json={**job_body(), "created_at": 7})


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    ("handler", "error", "job_id", "may_exist"),
    [
        (_reset, sdk.SubmissionOutcomeUnknownError, None, True),  # broke on the wire
        (_unreadable, sdk.UnexpectedResponseError, JOB_ID, True),  # an unreadable 2xx
        (_refused, sdk.APIConnectionError, None, False),  # refused before sending
    ],
)
def test_a_submit_flow_sets_the_facts(
    handler: Callable[[httpx.Request], httpx.Response],
    error: type[sdk.SharkAPIError],
    job_id: str | None,
    may_exist: bool,
) -> None:
    transport = httpx.MockTransport(handler)
    with SharkAPI(
        TOKEN, base_url=API, max_retries=0, http_client=httpx.Client(transport=transport)
    ) as client:
        with pytest.raises(sdk.SharkAPIError) as caught:
            client.submit("a shark")
    assert type(caught.value) is error
    assert caught.value.job_id == job_id
    assert (caught.value.job_may_exist, caught.value.retry_safe) == (may_exist, not may_exist)


def test_a_cancellation_carries_no_facts_unless_the_core_marked_it() -> None:
    assert job_outcome(asyncio.CancelledError()) == (False, None)
    marked = asyncio.CancelledError()
    marked.sharkapi_job_may_exist = True  # type: ignore[attr-defined]
    marked.sharkapi_job_id = None  # type: ignore[attr-defined]
    assert job_outcome(marked) == (True, None)
