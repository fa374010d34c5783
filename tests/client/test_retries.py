"""Retries: which failures are retried, how long between tries, and never a paid resubmit."""

from __future__ import annotations

import email.utils
import time

import attrs
import httpx
import pytest
from client_helpers import JOB_ID, Driver, Twin, accepted, error, httpx_error_classes, polled

import sharkapi_ext as sdk

ERROR_CLASSES = httpx_error_classes()
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Mistakes on this side: retrying cannot help, so even a GET is not retried.
LOCAL_MISTAKES = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def test_error_classes_are_all_found() -> None:
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"ReadTimeout", "WriteError", "RemoteProtocolError", "ProxyError"} <= names
    assert {"DecodingError", "TooManyRedirects", "HTTPStatusError", "CloseError"} <= names


def steady(driver: Driver, random: float = 0.0) -> Driver:
    """Pin the jitter so backoffs are exact."""
    policy = driver.client.retry_policy
    driver.client.retry_policy = attrs.evolve(policy, random=lambda: random)
    return driver


@pytest.mark.parametrize("exc", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_get_retries_transport_errors(twin: Twin, exc: type[httpx.HTTPError]) -> None:
    retried = issubclass(exc, httpx.TransportError) and not issubclass(exc, LOCAL_MISTAKES)
    twin.script.add(exc, exc, exc)
    client = twin(max_retries=2)
    with pytest.raises(sdk.APIConnectionError) as info:
        client.get_job(JOB_ID)
    assert twin.script.count("GET") == (3 if retried else 1)
    assert isinstance(info.value.__cause__, exc)
    assert info.value.job_id == JOB_ID
    assert isinstance(info.value, sdk.APITimeoutError) == issubclass(exc, httpx.TimeoutException)
    assert not isinstance(info.value, sdk.SubmissionOutcomeUnknownError)


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError])
def test_get_recovers_after_transport_errors(twin: Twin, exc: type[httpx.HTTPError]) -> None:
    twin.script.add(exc, exc, polled("processing"))
    assert twin().get_job(JOB_ID).status == "processing"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 520, 599])
def test_get_retries_429_and_5xx(twin: Twin, status: int) -> None:
    twin.script.add(httpx.Response(status, html="<h1>down</h1>"), error(status), polled())
    client = steady(twin(), random=0.0)
    assert client.get_job(JOB_ID).status == "queued"
    assert twin.script.count("GET") == 3
    if status == 503:
        assert twin.clock.sleeps == [30.0, 30.0]  # the vendor's word, without Retry-After
    else:
        assert twin.clock.sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 422])
def test_get_does_not_retry_4xx(twin: Twin, status: int) -> None:
    twin.script.add(error(status))
    with pytest.raises(sdk.APIStatusError):
        twin().get_job(JOB_ID)
    assert twin.script.count("GET") == 1
    assert twin.clock.sleeps == []


@pytest.mark.parametrize(("random", "low"), [(0.0, 1.0), (1.0, 0.75), (0.5, 0.875)])
def test_backoff_is_exponential_capped_and_jittered(twin: Twin, random: float, low: float) -> None:
    twin.script.add(*[error(500)] * 7, polled())
    client = steady(twin(max_retries=7), random=random)
    client.get_job(JOB_ID)
    full = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert twin.clock.sleeps == pytest.approx([s * low for s in full])


def test_jitter_stays_in_range(twin: Twin) -> None:
    twin.script.add(*[error(502)] * 2, polled())
    twin(max_retries=2).get_job(JOB_ID)  # the real random jitter
    first, second = twin.clock.sleeps
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


@pytest.mark.parametrize("header", ["3", "0.5", " 12 "])
def test_retry_after_seconds(twin: Twin, header: str) -> None:
    twin.script.add(error(429, headers={"Retry-After": header}), polled())
    twin().get_job(JOB_ID)
    assert twin.clock.sleeps == [float(header)]


@pytest.mark.parametrize("header", ["0.25", "0.000001", "0"])
def test_retry_after_below_the_first_backoff_gets_the_backoff(twin: Twin, header: str) -> None:
    # Honoured literally, a tiny Retry-After makes a long wait poll in a busy loop.
    twin.script.add(error(429, headers={"Retry-After": header}), polled())
    twin().get_job(JOB_ID)
    (slept,) = twin.clock.sleeps
    assert 0.375 <= slept <= 0.5


def test_retry_after_http_date(twin: Twin) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    twin.script.add(error(503, headers={"Retry-After": when}), polled())
    twin().get_job(JOB_ID)
    (slept,) = twin.clock.sleeps
    assert 17 <= slept <= 21


def test_retry_after_in_the_past_or_garbage(twin: Twin) -> None:
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    twin.script.add(
        error(429, headers={"Retry-After": past}),
        error(429, headers={"Retry-After": "soon"}),
        polled(),
    )
    steady(twin(), random=0.0).get_job(JOB_ID)
    # Nothing usable said: the client's own backoff, never a busy loop.
    assert twin.clock.sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_beyond_the_cap_raises(twin: Twin, status: int) -> None:
    twin.script.add(error(status, headers={"Retry-After": "3600"}))
    with pytest.raises(sdk.APIStatusError, match="3600") as info:
        twin().get_job(JOB_ID)
    assert info.value.retry_after == 3600  # type: ignore[attr-defined]
    assert twin.script.count("GET") == 1
    assert twin.clock.sleeps == []


def test_max_retries_zero_turns_retries_off(twin: Twin) -> None:
    twin.script.add(httpx.ConnectError)
    with pytest.raises(sdk.APIConnectionError):
        twin(max_retries=0).get_job(JOB_ID)
    twin.script.add(error(429, headers={"Retry-After": "1"}))
    with pytest.raises(sdk.RateLimitError):
        twin(max_retries=0).submit("x", mode="1k")
    assert len(twin.script.requests) == 2
    assert twin.clock.sleeps == []


@pytest.mark.parametrize("exc", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_submit_posts_per_httpx_error(twin: Twin, exc: type[httpx.HTTPError]) -> None:
    """Only a connection never made is retried: anything else may have created a job."""
    twin.script.add(exc, exc, exc)
    with pytest.raises(sdk.APIConnectionError) as info:
        twin(max_retries=2).submit("a shark", mode="1k")
    assert isinstance(info.value.__cause__, exc)
    if issubclass(exc, NEVER_SENT):
        assert twin.script.count("POST") == 3
        assert not isinstance(info.value, sdk.SubmissionOutcomeUnknownError)
    else:
        assert twin.script.count("POST") == 1
        assert isinstance(info.value, sdk.SubmissionOutcomeUnknownError)
        assert "may exist" in str(info.value)
        assert "NOT resubmitted" in str(info.value)


@pytest.mark.parametrize("exc", NEVER_SENT, ids=lambda c: c.__name__)
def test_submit_recovers_after_connection_never_made(twin: Twin, exc: type) -> None:
    twin.script.add(exc, accepted())
    assert twin().submit("a shark", mode="1k").job_id == JOB_ID
    assert twin.script.count("POST") == 2


@pytest.mark.parametrize("status", [429, 503])
def test_submit_retries_429_and_503(twin: Twin, status: int) -> None:
    twin.script.add(error(status), error(status), error(status))
    with pytest.raises(sdk.APIStatusError) as info:
        twin(max_retries=2).submit("a shark", mode="1k")
    assert info.value.status_code == status
    assert twin.script.count("POST") == 3


@pytest.mark.parametrize("status", [500, 501, 502, 504, 520])
def test_submit_never_retries_other_5xx(twin: Twin, status: int) -> None:
    twin.script.add(error(status))
    with pytest.raises(sdk.InternalServerError, match="may have been created"):
        twin().submit("a shark", mode="1k")
    assert twin.script.count("POST") == 1


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_submit_never_retries_4xx(twin: Twin, status: int) -> None:
    twin.script.add(error(status))
    with pytest.raises(sdk.APIStatusError) as info:
        twin().submit("a shark", mode="1k")
    assert info.value.status_code == status
    assert twin.script.count("POST") == 1
