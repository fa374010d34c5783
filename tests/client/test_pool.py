"""The async client's own pool (`KeepAlivePool`) against a real local server.

It must reuse connections under a steady concurrency (no new connection per request,
as httpcore 1.0.x's pool did once more connections existed than it kept alive), never
hand out a connection the server has closed, and keep no more idle connections than
``max_keepalive_connections``.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from sharkapi_ext import AsyncSharkAPI
from sharkapi_ext._connection import DEFAULT_LIMITS, MAX_CONNECTIONS, default_ssl_context
from sharkapi_ext._pool import KeepAlivePool, async_transport

pytestmark = pytest.mark.timeout(60)

STATUS = json.dumps(
    {
        "job_id": "job_1",
        "status": "processing",
        "mode": "1k",
        "created_at": "2025-01-01T00:00:00Z",
        "estimated_cost": "$0.01",
        "poll_url": "http://127.0.0.1/v1/jobs/job_1",
    }
).encode()


class Server:
    """HTTP/1.1 keep-alive server; counts connections; answers after `delay` seconds."""

    def __init__(self, delay: float = 0.0, close_after: int | None = None) -> None:
        self.delay = delay
        self.close_after = close_after  # close each connection after this many answers
        self.connections = 0
        self.requests = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"GET ")
                self.requests += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(STATUS), STATUS)
                )
                await writer.drain()
                answered += 1
                if self.close_after is not None and answered >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


def test_default_async_client_uses_the_pool() -> None:
    async def main() -> None:
        async with AsyncSharkAPI("sk_test_pool") as client:
            transport = client._http._transport
            assert isinstance(transport, httpx.AsyncHTTPTransport)
            assert type(transport._pool) is KeepAlivePool
            assert transport._pool._max_keepalive_connections == MAX_CONNECTIONS

    asyncio.run(main())


@pytest.mark.parametrize("concurrency", [5, 40])
def test_steady_concurrency_reuses_connections(concurrency: int) -> None:
    """`concurrency` workers polling back to back open at most `concurrency` connections."""
    server = Server(delay=0.005)

    async def main() -> None:
        async with server as url:
            client = AsyncSharkAPI("sk_test_pool", base_url=url)
            async with client:

                async def worker() -> None:
                    for _ in range(10):
                        await client.get_job("job_1")

                await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(main())
    assert server.requests == concurrency * 10
    assert server.connections <= concurrency


def test_httpcore_pool_churned_where_this_one_does_not() -> None:
    """The reference: httpcore's own pool with keep-alive < connections in use."""
    server = Server(delay=0.005)

    async def main() -> None:
        async with server as url:
            limits = httpx.Limits(max_connections=40, max_keepalive_connections=5)
            async with httpx.AsyncClient(limits=limits) as http:

                async def worker() -> None:
                    for _ in range(10):
                        (await http.get(f"{url}/v1/jobs/job_1")).raise_for_status()

                await asyncio.gather(*(worker() for _ in range(40)))

    asyncio.run(main())
    assert server.connections > 40  # so the test above can tell the difference


def test_a_connection_closed_by_the_server_is_not_reused() -> None:
    """Each connection answers once then closes: every request still succeeds."""
    server = Server(close_after=1)

    async def main() -> None:
        async with server as url:
            async with AsyncSharkAPI("sk_test_pool", base_url=url, max_retries=0) as client:
                for _ in range(5):
                    await client.get_job("job_1")
                    await asyncio.sleep(0.05)  # let the close arrive before the next send

    asyncio.run(main())
    assert server.requests == 5
    assert server.connections == 5


def test_idle_connections_beyond_keepalive_are_closed() -> None:
    server = Server(delay=0.01)

    async def main() -> None:
        async with server as url:
            limits = httpx.Limits(max_connections=20, max_keepalive_connections=3)
            transport = async_transport(limits, default_ssl_context())
            async with httpx.AsyncClient(transport=transport) as http:
                await asyncio.gather(*(http.get(f"{url}/v1/jobs/job_1") for _ in range(20)))
                pool = transport._pool
                assert isinstance(pool, KeepAlivePool)
                # The cleanup runs on each request and release: one more request settles it.
                await http.get(f"{url}/v1/jobs/job_1")
                idle = [c for c in pool.connections if c.is_idle()]
                assert len(idle) <= 3

    asyncio.run(main())


def test_default_limits_keep_every_connection_alive() -> None:
    assert DEFAULT_LIMITS.max_keepalive_connections == DEFAULT_LIMITS.max_connections
