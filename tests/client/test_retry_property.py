"""The retry state machine as a property, for both twins.

For any sequence of failures (httpx exceptions, error statuses) ending in a success,
any `max_retries`, and either kind of request, the client makes exactly as many
requests as the rules allow and ends with the right result or error class. The rules
are restated here independently of `sharkapi_ext._retry`, from the README's table:

- a read (GET) is retried on a transport error (not a local mistake), 429 or any 5xx;
- a submit (POST) only when no job can exist: connection never made, 429 or 503;
- everything else ends the call at once; so does running out of retries.
"""

from __future__ import annotations

import httpx
import pytest
from client_helpers import FLAVOURS, JOB_ID, STATUS_CLASSES, accepted, error, make_twin, polled
from hypothesis import given, settings
from hypothesis import strategies as st

import sharkapi_ext as sdk

TRANSPORT_ERRORS = [
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
]
STATUSES = [400, 401, 402, 403, 404, 422, 429, 500, 502, 503, 504]
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
LOCAL_MISTAKES = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)

Failure = type[httpx.HTTPError] | int


def retryable(failure: Failure, submit: bool) -> bool:
    if isinstance(failure, int):
        return failure in (429, 503) if submit else failure == 429 or failure >= 500
    if submit:
        return issubclass(failure, NEVER_SENT)
    return not issubclass(failure, LOCAL_MISTAKES)


def expected_error(failure: Failure, submit: bool) -> type[sdk.SharkAPIError]:
    if isinstance(failure, int):
        return STATUS_CLASSES.get(failure, sdk.InternalServerError)
    if submit and not issubclass(failure, NEVER_SENT):
        return sdk.SubmissionOutcomeUnknownError
    if issubclass(failure, httpx.TimeoutException):
        return sdk.APITimeoutError
    return sdk.APIConnectionError


@pytest.mark.parametrize("flavour", FLAVOURS)
@settings(deadline=None, max_examples=150)
@given(
    failures=st.lists(st.sampled_from([*TRANSPORT_ERRORS, *STATUSES]), max_size=5),
    max_retries=st.integers(min_value=0, max_value=4),
    submit=st.booleans(),
)
def test_requests_made_and_ending_follow_the_rules(
    flavour: str, failures: list[Failure], max_retries: int, submit: bool
) -> None:
    # The model: walk the sequence as the rules say.
    expected_requests, ending = 0, None
    for attempt, failure in enumerate(failures):
        expected_requests += 1
        if not retryable(failure, submit) or attempt == max_retries:
            ending = expected_error(failure, submit)
            break
    else:
        expected_requests += 1  # the success at the end

    twin = make_twin(flavour)
    steps = [
        f if not isinstance(f, int) else error(f, headers={"Retry-After": "1"}) for f in failures
    ]
    twin.script.add(*steps, accepted() if submit else polled("processing"))
    # The retry model alone: the pacing gate's own waits are tested in test_pacing.py.
    client = twin(max_retries=max_retries, pacing=False)
    call = (
        (lambda: client.submit("a shark", mode="1k"))
        if submit
        else (lambda: client.get_job(JOB_ID))
    )

    if ending is None:
        result = call()
        assert result.job_id == JOB_ID
    else:
        with pytest.raises(sdk.SharkAPIError) as info:
            call()
        assert type(info.value) is ending, (type(info.value), ending)
    assert len(twin.script.requests) == expected_requests
    # One sleep between two requests, never one after the last.
    assert len(twin.clock.sleeps) == expected_requests - 1
