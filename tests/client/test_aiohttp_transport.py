"""The aiohttp transport against a real server (the sandbox): which path each request takes.

An in-memory body goes to aiohttp's session directly; a streamed one (an image upload)
through httpx-aiohttp. Both must answer the same, with the SDK's error mapping; the
fault tests (tests/reliability) cover the errors of both paths on real sockets.
"""

from __future__ import annotations

import asyncio
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sharkapi_ext import AsyncSharkAPI, SharkAPI, UnexpectedResponseError, aiohttp_http_client
from sharkapi_ext._aiohttp import AiohttpTransport
from sharkapi_ext.sandbox import Sandbox


def _png(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 90, 160)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.timeout(30)
def test_in_memory_bodies_go_to_aiohttp_directly_and_uploads_through_httpx_aiohttp(
    sharkapi_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct: list[str] = []
    real_send = AiohttpTransport._send

    async def counting_send(
        self: AiohttpTransport, session: Any, request: Any, hook: Any = None
    ) -> Any:
        direct.append(request.method)
        return await real_send(self, session, request, hook)

    monkeypatch.setattr(AiohttpTransport, "_send", counting_send)
    image = _png(tmp_path / "source.png")

    async def main() -> None:
        async with aiohttp_http_client() as http:
            client = AsyncSharkAPI(
                sharkapi_sandbox.token,
                base_url=sharkapi_sandbox.base_url,
                http_client=http,
                poll_interval=0.02,
            )
            done = await client.generate("a shark at dawn")
            assert done.status == "complete"
            assert direct[0] == "POST"
            assert set(direct) == {"POST", "GET"}
            polls = len(direct)
            upload = await client.submit("the same shark", image=image, image_strength=0.4)
            assert len(direct) == polls  # the streamed upload took httpx-aiohttp's path
            status = await client.get_job(upload)
            assert len(direct) == polls + 1
            assert status.job_id == upload.job_id

    asyncio.run(main())
    sent = sharkapi_sandbox.submissions()
    assert [(s.prompt, s.has_image) for s in sent] == [
        ("a shark at dawn", False),
        ("the same shark", True),
    ]


@pytest.mark.timeout(30)
def test_the_on_sending_hook_runs_in_the_same_step_as_the_first_socket_write(
    sharkapi_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal written in the hook is on disk exactly when the request is on the wire.

    The driver used to call the hook before aiohttp took a connection; aiohttp then
    wrote the request from a task of its own, a loop turn or a connect later: a kill in
    between left an intent journaled for a request that never reached the server.
    """
    from aiohttp.http_writer import StreamWriter

    events: list[str] = []
    real_write = StreamWriter._write
    real_writelines = StreamWriter._writelines

    def write(self: Any, chunk: Any) -> None:
        events.append("socket write")
        real_write(self, chunk)

    def writelines(self: Any, chunks: Any) -> None:
        events.append("socket write")
        real_writelines(self, chunks)

    monkeypatch.setattr(StreamWriter, "_write", write)
    monkeypatch.setattr(StreamWriter, "_writelines", writelines)

    def hook() -> None:
        events.append("hook")
        # Anything else the loop runs comes after this step.
        asyncio.get_running_loop().call_soon(events.append, "next loop turn")

    async def main() -> None:
        async with aiohttp_http_client() as http:
            client = AsyncSharkAPI(
                sharkapi_sandbox.token, base_url=sharkapi_sandbox.base_url, http_client=http
            )
            await client.generate("a shark on the wire", on_sending=hook, timeout=10)

    asyncio.run(main())
    first_hook = events.index("hook")
    assert events[first_hook : first_hook + 3] == ["hook", "socket write", "next loop turn"]
    assert events[:first_hook] == []  # nothing of the submit was written before the hook


class _Refused(Exception):
    pass


@pytest.mark.timeout(30)
def test_a_hook_that_refuses_on_the_wire_sends_nothing_and_raises_its_own_error(
    sharkapi_sandbox: Sandbox,
) -> None:
    def hook() -> None:
        raise _Refused("the account refused another submit meanwhile")

    async def main() -> None:
        async with aiohttp_http_client() as http:
            client = AsyncSharkAPI(
                sharkapi_sandbox.token, base_url=sharkapi_sandbox.base_url, http_client=http
            )
            with pytest.raises(_Refused):
                await client.generate("a shark never sent", on_sending=hook, timeout=10)
            # The connection aiohttp dropped does not spoil the next request.
            done = await client.generate("a shark sent", timeout=10)
            assert done.status == "complete"

    asyncio.run(main())
    assert [s.prompt for s in sharkapi_sandbox.submissions()] == ["a shark sent"]


class _Host:
    """A plain HTTP server on 127.0.0.1 answering from a table of paths; it records every
    request's path and headers. Two of them are two hosts (origins) to the client."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                host.seen.append((self.command, self.path, dict(self.headers.items())))
                status, headers, body = host.routes.get(self.path, (404, {}, b"not here"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Host:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


TRANSPORTS = ["sync", "async", "async-aiohttp"]
TOKEN = "sk_test_redirect_token_0123456789"


def _call(transport: str, base_url: str, method: str, *args: Any) -> Any:
    """`method` of a client of `transport` that holds the token, without retries."""
    if transport == "sync":
        with SharkAPI(TOKEN, base_url=base_url, max_retries=0) as client:
            return getattr(client, method)(*args)

    async def main() -> Any:
        http = aiohttp_http_client() if transport == "async-aiohttp" else None
        try:
            async with AsyncSharkAPI(
                TOKEN, base_url=base_url, http_client=http, max_retries=0
            ) as client:
                return await getattr(client, method)(*args)
        finally:
            if http is not None:
                await http.aclose()

    return asyncio.run(main())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_image_url_that_redirects_is_followed_alike_on_every_transport(
    tmp_path: Path, transport: str
) -> None:
    image = _png(tmp_path / "source.png").read_bytes()
    with _Host() as cdn, _Host() as other:
        # A relative redirect on the image host, then one to another host.
        cdn.routes["/img/1"] = (302, {"Location": "/img/2"}, b"")
        cdn.routes["/img/2"] = (307, {"Location": f"{other.url}/final.png"}, b"")
        other.routes["/final.png"] = (200, {"Content-Type": "image/png"}, image)
        # The API's base URL is a third host, which nothing serves: it is never asked.
        saved = _call(
            transport, "http://127.0.0.1:9", "download", f"{cdn.url}/img/1", tmp_path / "out.png"
        )
        seen = cdn.seen + other.seen
    assert saved == tmp_path / "out.png"
    assert saved.read_bytes() == image
    assert [(method, path) for method, path, _ in seen] == [
        ("GET", "/img/1"),
        ("GET", "/img/2"),
        ("GET", "/final.png"),
    ]
    for _, _, headers in seen:  # an image download carries no token, on any host
        assert "authorization" not in {name.lower() for name in headers}
        assert TOKEN not in str(headers)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_api_redirect_is_not_followed_and_the_token_stays_home(
    tmp_path: Path, transport: str
) -> None:
    with _Host() as api, _Host() as other:
        api.routes["/v1/jobs/job_1"] = (302, {"Location": f"{other.url}/v1/jobs/job_1"}, b"")
        with pytest.raises(UnexpectedResponseError, match="redirect"):
            _call(transport, api.url, "get_job", "job_1")
        assert [path for _, path, _ in api.seen] == ["/v1/jobs/job_1"]
        assert other.seen == []
