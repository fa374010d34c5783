"""Each private part of a dependency the SDK uses has a public fallback, and it works.

The SDK reaches into three dependencies for speed (BENCHMARKS.md, sections 1 and 2):

- httpx's ``Client._transport_for_url`` / ``AsyncClient._transport_for_url``
  (`BaseClient._direct_transport`; both twins);
- httpcore 1.0.x's ``AsyncConnectionPool._assign_requests_to_connections`` (`_pool`; the
  async twin's own pool);
- httpx-aiohttp 0.2's ``AiohttpTransport.client`` / ``get_client`` / ``proxy``
  (`_aiohttp.AiohttpTransport._session`).

A release of a dependency may rename or drop any of them. Each test here makes one
disappear for the SDK while the dependency's own code still reaches it (as after a
rename: `hide`), or makes httpcore another version, and checks that the SDK takes the
public path and still works. scripts/test also runs this suite on the newest releases
the index offers (scripts/newest-deps).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import httpx_aiohttp
import pytest
from client_helpers import JOB_ID, Twin, accepted, polled

from sharkapi_ext import AsyncSharkAPI, aiohttp_http_client
from sharkapi_ext._aiohttp import AiohttpTransport
from sharkapi_ext._pool import KeepAlivePool
from sharkapi_ext.sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.timeout(60)


def hide(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, package: str) -> None:
    """Make ``owner.name`` (a method or an instance attribute) invisible outside `package`.

    `package`'s own code still reads and sets it, as it would under a new name after a
    release renamed it; to anyone else (the SDK) it is absent: ``getattr`` raises
    AttributeError. Set before the objects are made (``__init__`` sets through it).
    """
    method = owner.__dict__.get(name)
    slot = f"_hidden_{name}"

    def visible() -> bool:
        caller = sys._getframe(2).f_globals.get("__name__", "")
        return bool(caller == package or caller.startswith(f"{package}."))

    def get(self: Any) -> Any:
        if not visible():
            raise AttributeError(name)
        if method is not None:
            return method.__get__(self, type(self))
        return self.__dict__[slot]

    def set_(self: Any, value: Any) -> None:
        if not visible():
            raise AttributeError(name)
        self.__dict__[slot] = value

    monkeypatch.setattr(owner, name, property(get, set_), raising=False)


def count_send(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each call to ``httpx.Client.send`` / ``httpx.AsyncClient.send`` (the public path)."""
    calls: list[str] = []
    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        calls.append(request.method)
        return sync_send(self, request, **kwargs)

    async def asend(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        calls.append(request.method)
        return await async_send(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", send)
    monkeypatch.setattr(httpx.AsyncClient, "send", asend)
    return calls


# -- httpx: Client._transport_for_url --------------------------------------------------


@pytest.mark.parametrize("hidden", [False, True], ids=["present", "absent"])
def test_without_httpx_transport_for_url_api_requests_go_through_send(
    twin: Twin, monkeypatch: pytest.MonkeyPatch, hidden: bool
) -> None:
    if hidden:
        for cls in (httpx.Client, httpx.AsyncClient):
            hide(monkeypatch, cls, "_transport_for_url", "httpx")
        assert getattr(httpx.Client(), "_transport_for_url", None) is None  # as the SDK sees it
    sent = count_send(monkeypatch)
    twin.script.add(accepted(), polled("processing"))
    client = twin()
    job = client.submit("a shark")
    status = client.get_job(JOB_ID)
    assert (job.job_id, status.job_id, status.status) == (JOB_ID, JOB_ID, "processing")
    assert [r.method for r in twin.script.requests] == ["POST", "GET"]
    # The shortcut skips send; without the private hook, send does the work.
    assert sent == (["POST", "GET"] if hidden else [])


# -- the sandbox, for the transports' real sockets -------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(queued_seconds=0.05, processing_seconds=0.05)) as running:
        yield running


async def _submit_and_poll(sandbox: Sandbox, http: httpx.AsyncClient | None = None) -> str:
    async with AsyncSharkAPI(
        sandbox.token, base_url=sandbox.base_url, http_client=http, max_retries=0
    ) as client:
        job = await client.submit("a shark at dawn")
        statuses = [await client.get_job(job) for _ in range(3)]
        assert {s.job_id for s in statuses} == {job.job_id}
        return job.job_id


# -- httpcore: AsyncConnectionPool._assign_requests_to_connections ---------------------


@pytest.mark.parametrize("version", ["1.0.9", "1.1.0", "2.0.0"])
def test_the_async_pool_override_applies_to_httpcore_1_0_only_and_requests_work(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setattr(httpcore, "__version__", version)
    pools: list[type] = []

    async def main() -> None:
        async with AsyncSharkAPI(sandbox.token, base_url=sandbox.base_url) as client:
            pools.append(type(client._http._transport._pool))  # type: ignore[union-attr]
        await _submit_and_poll(sandbox)

    asyncio.run(main())
    expected = KeepAlivePool if version.startswith("1.0.") else httpcore.AsyncConnectionPool
    assert pools == [expected]


def test_a_pool_without_httpcore_1_0_state_keeps_httpcore_s_assignment(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1.0.x release whose pool no longer has the state `KeepAlivePool` reads."""
    hide(monkeypatch, httpcore.AsyncConnectionPool, "_requests", "httpcore")
    pools: list[type] = []

    async def main() -> None:
        async with AsyncSharkAPI(sandbox.token, base_url=sandbox.base_url) as client:
            pools.append(type(client._http._transport._pool))  # type: ignore[union-attr]
        await _submit_and_poll(sandbox)

    asyncio.run(main())
    assert pools == [httpcore.AsyncConnectionPool]


# -- httpx-aiohttp: AiohttpTransport.client / get_client / proxy ------------------------


@pytest.mark.parametrize("hidden", [None, "client", "get_client", "proxy"])
def test_without_httpx_aiohttp_s_session_attributes_requests_take_its_public_path(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, hidden: str | None
) -> None:
    if hidden is not None:
        hide(monkeypatch, httpx_aiohttp.AiohttpTransport, hidden, "httpx_aiohttp")
    direct: list[str] = []
    public: list[str] = []
    real_send = AiohttpTransport._send
    real_handle = httpx_aiohttp.AiohttpTransport.handle_async_request

    async def counting_send(self: AiohttpTransport, session: Any, request: Any, *rest: Any) -> Any:
        direct.append(request.method)
        return await real_send(self, session, request, *rest)

    async def counting_handle(self: Any, request: httpx.Request) -> httpx.Response:
        public.append(request.method)
        return await real_handle(self, request)

    monkeypatch.setattr(AiohttpTransport, "_send", counting_send)
    monkeypatch.setattr(httpx_aiohttp.AiohttpTransport, "handle_async_request", counting_handle)

    async def main() -> str:
        async with aiohttp_http_client() as http:
            return await _submit_and_poll(sandbox, http)

    job_id = asyncio.run(main())
    assert job_id.startswith("job_")
    used, unused = (public, direct) if hidden else (direct, public)
    assert used == ["POST", "GET", "GET", "GET"]
    assert unused == []


def test_a_session_of_another_kind_takes_httpx_aiohttp_s_public_path(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release whose ``client`` holds something other than an aiohttp session."""
    direct: list[str] = []
    real_send = AiohttpTransport._send

    async def counting_send(self: AiohttpTransport, session: Any, request: Any, *rest: Any) -> Any:
        direct.append(request.method)
        return await real_send(self, session, request, *rest)

    monkeypatch.setattr(AiohttpTransport, "_send", counting_send)
    # httpx-aiohttp's get_client returns what `client` is when it is not callable: here a
    # wrapper it would unwrap itself.
    monkeypatch.setattr(httpx_aiohttp.AiohttpTransport, "get_client", lambda self: object())
    seen: list[str] = []

    async def handle(self: Any, request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(202, json={}, request=request)

    monkeypatch.setattr(httpx_aiohttp.AiohttpTransport, "handle_async_request", handle)

    async def main() -> None:
        async with aiohttp_http_client() as http:
            await http.post(f"{sandbox.base_url}/v1/generate", json={})

    asyncio.run(main())
    assert direct == []
    assert seen == ["POST"]
