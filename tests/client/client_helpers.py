"""The client tests' harness: a scripted transport, a fake clock, and sync/async twins.

Every scenario is written once and run against `SharkAPI`, `AsyncSharkAPI` on httpx's
own transport, and `AsyncSharkAPI` on the aiohttp transport (`FLAVOURS`): `Driver` turns
each coroutine method of the async client into a plain call, so a test reads the same
whichever twin it drives.

On the aiohttp flavour the script's failures take the road real ones would: a scripted
``httpx.ConnectError`` is raised as the aiohttp exception aiohttp raises for that event
(`AIOHTTP_EQUIVALENTS`), turned into an httpx one by `httpx-aiohttp`'s own mapping, and
mapped again by the SDK's `AiohttpTransport`; the test then checks what comes out.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import json
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

import sharkapi_ext as sdk
from sharkapi_ext import AsyncSharkAPI, SharkAPI, aiohttp_http_client

FLAVOURS = ["sync", "async", "async-aiohttp"]

TOKEN = "sk_test_CANARY_9f3a7c1e"
API = "https://api.sharkapi.dev"
JOB_ID = "job_abc123"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64

# The documented statuses and their classes (README, "Errors"); others: 5xx ->
# InternalServerError, other 4xx -> APIStatusError.
STATUS_CLASSES: dict[int, type[sdk.APIStatusError]] = {
    400: sdk.BadRequestError,
    401: sdk.AuthenticationError,
    402: sdk.InsufficientBalanceError,
    403: sdk.PermissionDeniedError,
    404: sdk.NotFoundError,
    422: sdk.ModerationError,
    429: sdk.RateLimitError,
    503: sdk.ServiceUnavailableError,
}

Step = Any  # an httpx.Response, an exception (class or instance), or request -> either


def job_body(job_id: str = JOB_ID, **extra: Any) -> dict[str, Any]:
    """A 202 submit answer."""
    return {
        "job_id": job_id,
        "status": "queued",
        "estimated_cost": "$0.01",
        "poll_url": f"{API}/v1/jobs/{job_id}",
        "created_at": "2025-01-02T03:04:05Z",
        **extra,
    }


def status_body(status: str = "queued", job_id: str = JOB_ID, **extra: Any) -> dict[str, Any]:
    """A 200 poll answer; a complete job gets an image URL and a cost."""
    done = status == "complete"
    body: dict[str, Any] = {
        "job_id": job_id,
        "status": status,
        "mode": "1k",
        "created_at": "2025-01-02T03:04:05Z",
        "updated_at": None,
        "estimated_cost": "$0.01",
        "cost": "$0.01" if done else ("$0.00" if status in ("failed", "moderated") else None),
        "image_url": f"https://cdn.example.net/{job_id}.png" if done else None,
        "error": (
            {"code": f"{status}_code", "message": f"it was {status}"}
            if status in ("failed", "moderated")
            else None
        ),
        "poll_url": f"{API}/v1/jobs/{job_id}",
    }
    body.update(extra)
    return body


def accepted(job_id: str = JOB_ID, **extra: Any) -> httpx.Response:
    return httpx.Response(202, json=job_body(job_id, **extra))


def polled(status: str = "queued", job_id: str = JOB_ID, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json=status_body(status, job_id, **extra))


def error(
    status_code: int, code: str = "oops", headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status_code, json={"error": {"code": code, "message": f"m {code}"}}, headers=headers
    )


class Recorded:
    """One request as the transport saw it (the body fully read)."""

    def __init__(self, request: httpx.Request) -> None:
        self.method = request.method
        self.url = request.url
        self.headers = request.headers
        self.content = request.content

    def json(self) -> Any:
        return json.loads(self.content)


class Script:
    """A MockTransport handler that answers with scripted steps and records requests."""

    def __init__(self, *steps: Step) -> None:
        self.steps: deque[Step] = deque(steps)
        self.requests: list[Recorded] = []
        self.default: Step | None = None  # answers once the steps run out

    def add(self, *steps: Step) -> Script:
        self.steps.extend(steps)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(Recorded(request))
        if self.steps:
            step = self.steps.popleft()
        elif self.default is not None:
            step = self.default
        else:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        if callable(step) and not isinstance(step, type):
            step = step(request)
        if isinstance(step, type) and issubclass(step, httpx.HTTPError):
            step = make_httpx_error(step, request)
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, httpx.Response)
        return step

    def count(self, method: str) -> int:
        return sum(r.method == method for r in self.requests)


def make_httpx_error(cls: type[httpx.HTTPError], request: httpx.Request) -> httpx.HTTPError:
    """An instance of any httpx exception class, whatever its constructor wants."""
    if issubclass(cls, httpx.HTTPStatusError):
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    if issubclass(cls, httpx.RequestError):
        return cls("boom", request=request)
    return cls("boom")


def httpx_error_classes() -> list[type[httpx.HTTPError]]:
    """Every exception class httpx exports under HTTPError, found by introspection."""
    found: set[type[httpx.HTTPError]] = set()
    todo: list[type[httpx.HTTPError]] = [httpx.HTTPError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return sorted(
        (c for c in found if getattr(httpx, c.__name__, None) is c), key=lambda c: c.__name__
    )


def _aiohttp_equivalents() -> dict[type[httpx.HTTPError], Callable[[], BaseException]]:
    import aiohttp
    from aiohttp.client_reqrep import ConnectionKey

    key = ConnectionKey("api.sharkapi.dev", 443, True, True, None, None, None)
    return {
        # Connection never made: refused, or no connection in time.
        httpx.ConnectError: lambda: aiohttp.ClientConnectorError(
            key, ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        ),
        httpx.ConnectTimeout: lambda: aiohttp.ConnectionTimeoutError("Connection timeout"),
        # After the request was written: these may have reached the server.
        httpx.ReadTimeout: lambda: aiohttp.SocketTimeoutError("Timeout on reading data"),
        httpx.TimeoutException: lambda: aiohttp.ServerTimeoutError("timeout"),
        httpx.RemoteProtocolError: lambda: aiohttp.ServerDisconnectedError(),
        httpx.ProtocolError: lambda: aiohttp.ClientPayloadError(
            "Response payload is not completed"
        ),
        httpx.ReadError: lambda: aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset"),
        httpx.NetworkError: lambda: aiohttp.ClientConnectionResetError("Connection lost"),
        httpx.TransportError: lambda: aiohttp.ClientConnectionError("Connection closed"),
        httpx.UnsupportedProtocol: lambda: aiohttp.InvalidURL("ftp://x"),
    }


# httpx exception class -> a maker of the aiohttp exception for the same event. Classes
# absent here (PoolTimeout, WriteError, ...) have no aiohttp counterpart: aiohttp has no
# write timeout and counts its pool wait in the connect timeout; they pass through as is.
AIOHTTP_EQUIVALENTS = _aiohttp_equivalents()


class FakeAiohttp(httpx.AsyncBaseTransport):
    """Stands in for `httpx_aiohttp.AiohttpTransport`: the script answers, and scripted
    failures are raised as aiohttp exceptions through httpx-aiohttp's own mapping."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.mock = httpx.MockTransport(handler)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        from httpx_aiohttp.transport import map_aiohttp_exceptions

        try:
            return await self.mock.handle_async_request(request)
        except httpx.HTTPError as exc:
            make = AIOHTTP_EQUIVALENTS.get(type(exc))
            if make is None:
                raise
            with map_aiohttp_exceptions():
                raise make() from None


class FakeClock:
    """A monotonic clock that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would

    @property
    def slept(self) -> float:
        return sum(self.sleeps)


class Driver:
    """Calls a client's methods the same way for both twins (async ones via asyncio.run)."""

    def __init__(self, client: SharkAPI | AsyncSharkAPI) -> None:
        self.client = client
        self.is_async = isinstance(client, AsyncSharkAPI)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        def run(*args: Any, **kwargs: Any) -> Any:
            return asyncio.run(attr(*args, **kwargs))

        return run

    def close(self) -> None:
        if isinstance(self.client, AsyncSharkAPI):
            asyncio.run(self.client.aclose())
        else:
            self.client.close()


class Twin:
    """Builds clients of one flavour (sync or async) on a script and a fake clock."""

    def __init__(
        self, is_async: bool, script: Script, clock: FakeClock, *, aiohttp: bool = False
    ) -> None:
        self.is_async = is_async
        self.aiohttp = aiohttp
        self.script = script
        self.clock = clock
        self.drivers: list[Driver] = []

    @property
    def cls(self) -> type[SharkAPI] | type[AsyncSharkAPI]:
        return AsyncSharkAPI if self.is_async else SharkAPI

    def http_client(self, handler: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        transport = httpx.MockTransport(handler or self.script)
        if self.aiohttp:
            fake = FakeAiohttp(handler or self.script)
            return aiohttp_http_client(transport_factory=lambda **_: fake, **kwargs)
        if self.is_async:
            return httpx.AsyncClient(transport=transport, **kwargs)
        return httpx.Client(transport=transport, **kwargs)

    def new(self, token: str | None = TOKEN, **kwargs: Any) -> SharkAPI | AsyncSharkAPI:
        kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("sleep", self.clock.asleep if self.is_async else self.clock.sleep)
        if "http_client" not in kwargs:
            kwargs["http_client"] = self.http_client()
        return self.cls(token, **kwargs)

    def __call__(self, token: str | None = TOKEN, **kwargs: Any) -> Driver:
        driver = Driver(self.new(token, **kwargs))
        self.drivers.append(driver)
        return driver


def make_twin(flavour: str) -> Twin:
    """A fresh twin of a `FLAVOURS` name, for tests (hypothesis ones) that cannot use the
    function fixtures."""
    return Twin(flavour != "sync", Script(), FakeClock(), aiohttp=flavour == "async-aiohttp")
