"""API requests handed straight to the client's transport keep everything ``send`` does.

`BaseClient._direct_transport` skips ``http_client.send`` for requests to the API when
the caller's client asks nothing of it. Each test here sets up one thing ``send`` would
do (store a cookie, run an event hook, route by a mount, log, name the request in an
error) and checks the SDK still does it, on both twins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from client_helpers import API, JOB_ID, TOKEN, Twin, accepted, make_twin, polled, status_body

from sharkapi_ext import APIConnectionError, SubmissionOutcomeUnknownError


@pytest.fixture(params=["sync", "async"])
def plain(request: pytest.FixtureRequest) -> Iterator[Twin]:
    """A twin on plain httpx clients: hooks, mounts and subclasses are httpx's, whatever
    the transport (the aiohttp flavour adds nothing here)."""
    made = make_twin(request.param)
    yield made
    for driver in made.drivers:
        driver.close()


def _plain(twin: Twin, handler: Any, **kwargs: Any) -> Any:
    transport = httpx.MockTransport(handler)
    cls = httpx.AsyncClient if twin.is_async else httpx.Client
    return cls(transport=transport, **kwargs)


def test_a_cookie_the_api_sets_is_kept_and_sent_back(twin: Twin) -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Cookie"))
        if len(seen) == 2:
            return httpx.Response(
                200, json=status_body(), headers={"Set-Cookie": "lb=node7; Path=/"}
            )
        return polled()

    http = twin.http_client(answer, cookies={"given": "1"})
    client = twin(http_client=http)
    for _ in range(3):
        client.get_job(JOB_ID)
    assert seen[0] == "given=1"
    assert seen[1] == "given=1"
    assert sorted((seen[2] or "").split("; ")) == ["given=1", "lb=node7"]
    assert dict(http.cookies) == {"given": "1", "lb": "node7"}


def test_event_hooks_of_the_callers_client_still_run(plain: Twin) -> None:
    calls: list[str] = []

    def on_request(request: httpx.Request) -> None:
        calls.append(f"request {request.method}")

    def on_response(response: httpx.Response) -> None:
        calls.append(f"response {response.status_code}")

    async def aon_request(request: httpx.Request) -> None:
        on_request(request)

    async def aon_response(response: httpx.Response) -> None:
        on_response(response)

    hooks = (
        {"request": [aon_request], "response": [aon_response]}
        if plain.is_async
        else {"request": [on_request], "response": [on_response]}
    )
    plain.script.add(accepted(), polled())
    client = plain(http_client=plain.http_client(event_hooks=hooks))
    client.submit("a shark")
    client.get_job(JOB_ID)
    assert calls == ["request POST", "response 202", "request GET", "response 200"]


def test_a_mounted_transport_still_routes_the_request(plain: Twin) -> None:
    routed: list[str] = []

    def mounted(request: httpx.Request) -> httpx.Response:
        routed.append(request.url.path)
        return polled()

    def default(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the mount for the API's origin should have answered")

    http = _plain(plain, default, mounts={API: httpx.MockTransport(mounted)})
    plain(http_client=http).get_job(JOB_ID)
    assert routed == [f"/v1/jobs/{JOB_ID}"]


def test_httpx_still_logs_each_request(twin: Twin, caplog: pytest.LogCaptureFixture) -> None:
    twin.script.add(polled())
    with caplog.at_level(logging.INFO, logger="httpx"):
        twin().get_job(JOB_ID)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines == [f'HTTP Request: GET {API}/v1/jobs/{JOB_ID} "HTTP/1.1 200 OK"']
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("hooked", [False, True], ids=["direct", "through-send"])
@pytest.mark.parametrize(
    ("error", "expected", "posts"),
    [
        (httpx.ConnectError, APIConnectionError, 3),  # never sent: retried
        (httpx.ReadError, SubmissionOutcomeUnknownError, 1),  # may have been sent: never again
        (httpx.RemoteProtocolError, SubmissionOutcomeUnknownError, 1),
    ],
)
def test_a_transport_error_without_its_request_is_handled_the_same_either_way(
    plain: Twin,
    hooked: bool,
    error: type[httpx.RequestError],
    expected: type[Exception],
    posts: int,
) -> None:
    """A transport may raise without naming the request; ``send`` names it, so must the SDK."""

    def answer(request: httpx.Request) -> httpx.Response:
        plain.script.requests.append(request)  # type: ignore[arg-type]
        raise error("boom")  # no request=: as a third-party transport may do

    hooks: dict[str, list[Any]] = {}
    if hooked:

        async def anoop(request: httpx.Request) -> None:
            return None

        def noop(request: httpx.Request) -> None:
            return None

        hooks = {"request": [anoop if plain.is_async else noop]}
    client = plain(http_client=_plain(plain, answer, event_hooks=hooks))
    with pytest.raises(expected) as info:
        client.submit("a shark")
    assert sum(r.method == "POST" for r in plain.script.requests) == posts
    assert TOKEN not in str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, error)
    assert cause.request.url.path == "/v1/generate"  # raises if no request was set


def test_a_client_subclass_keeps_its_own_send(plain: Twin) -> None:
    sent: list[str] = []
    plain.script.add(polled())
    base = httpx.AsyncClient if plain.is_async else httpx.Client

    if plain.is_async:

        class Audited(httpx.AsyncClient):
            async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
                sent.append(request.method)
                return await super().send(request, **kwargs)

        http: Any = Audited(transport=httpx.MockTransport(plain.script))
    else:

        class AuditedSync(httpx.Client):
            def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
                sent.append(request.method)
                return super().send(request, **kwargs)

        http = AuditedSync(transport=httpx.MockTransport(plain.script))
    assert isinstance(http, base)
    plain(http_client=http).get_job(JOB_ID)
    assert sent == ["GET"]
