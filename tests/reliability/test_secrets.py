"""Secrets and hosts: the token stays out of every log, message and traceback, and is
never sent to another origin; plain http is refused; downloads are bounded and safe.

A canary token runs through success, error, retry and timeout paths with DEBUG logging
on for "sharkapi" and the root logger; then every log record, every error's str/repr
and full traceback (chained causes and notes included), and the client's str/repr are
searched for it. Who received the token is observed on the server side: the sandbox's
request log (`has_authorization`) and recording transports.
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import logging
import secrets
import traceback
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from reliability_helpers import RawServer

from sharkapi_ext import (
    APIConnectionError,
    AsyncSharkAPI,
    DownloadError,
    InvalidRequestError,
    SharkAPI,
    SharkAPIError,
)
from sharkapi_ext.sandbox import Sandbox, SandboxConfig

FIGURES: dict[str, object] = {}
PNG = b"\x89PNG\r\n\x1a\n"


def canary() -> str:
    return "sk_test_CANARY" + secrets.token_hex(12)


def _texts_of(error: BaseException) -> Iterator[str]:
    yield str(error)
    yield repr(error)
    yield "".join(traceback.format_exception(error))
    yield repr(vars(error)) if hasattr(error, "__dict__") else ""


def _leaks(token: str, texts: list[str]) -> list[str]:
    secret = token.removeprefix("sk_test_")
    return [text[:300] for text in texts if secret in text]


def test_canary_never_leaks(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sharkapi")
    token = canary()
    errors: list[BaseException] = []
    paths: collections.Counter[str] = collections.Counter()
    config = SandboxConfig(queued_seconds=0.02, processing_seconds=0.05, retry_after_seconds=0)

    def attempt(label: str, call: object) -> None:
        paths[label] += 1
        try:
            call()  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    with Sandbox(config) as sandbox:
        sandbox.add_token(token)

        def client(fault: str | None = None, **options: object) -> SharkAPI:
            headers = {"X-Sandbox-Fault": fault} if fault else {}
            http = httpx.Client(headers=headers)
            settings = {"base_url": sandbox.base_url, "poll_interval": 0.02, **options}
            api = SharkAPI(token, http_client=http, **settings)
            clients.append((api, http))
            return api

        clients: list[tuple[SharkAPI, httpx.Client]] = []
        ok = client()
        done = ok.generate("canary success", mode="1k", timeout=10)
        attempt("download", lambda: ok.download(done, tmp_path / "img/"))
        attempt("job failed", lambda: ok.generate("canary [fail]", mode="1k", timeout=10))
        attempt("job moderated", lambda: ok.generate("canary [moderate]", mode="1k", timeout=10))
        attempt("422 blocked", lambda: ok.submit("canary [blocked]", mode="1k"))
        attempt("404", lambda: ok.get_job("job_does_not_exist"))
        attempt("400 bad image", lambda: ok.submit("c", mode="1k", image=PNG + b"x" * 40))
        for fault in ("429;retry-after=0", "503;retry-after=0", "500", "502", "drop-after-create"):
            faulty = client(fault, max_retries=1)
            attempt(f"retry {fault} submit", lambda f=faulty: f.submit("canary retry", mode="1k"))
            attempt(f"retry {fault} poll", lambda f=faulty, d=done: f.get_job(d.job_id))
        # 503 without Retry-After means a 30 s wait: this one client's sleep is skipped.
        no_ra = client("503-no-retry-after", sleep=lambda s: None)
        attempt("503 no Retry-After", lambda: no_ra.get_job(done.job_id))
        slow = client("slow;seconds=0.6", timeout=0.2, max_retries=0)
        attempt("timeout submit", lambda: slow.submit("canary slow", mode="1k"))
        attempt("timeout poll", lambda: slow.get_job(done.job_id))
        attempt("wait timeout", lambda: slow.wait(done.job_id, timeout=0.3))
        sandbox.add_token(token, revoked=True)
        attempt("403 revoked", lambda: ok.submit("canary revoked", mode="1k"))
        sandbox.add_token(token, balance=Decimal(0))
        attempt("402 balance", lambda: ok.submit("canary broke", mode="1k"))
        attempt("401 wrong token", lambda: SharkAPI(token + "x", base_url="http://127.0.0.1:9"))
        for api, http in clients:
            api.close()
            http.close()
        reqs = sandbox.requests()

    async def async_paths() -> None:
        with RawServer(lambda conn: None) as refused_like:
            async with AsyncSharkAPI(
                token, base_url=refused_like.base_url, timeout=0.3, max_retries=1
            ) as api:
                for label, coro in (
                    ("async connection closed", api.get_job("job_1")),
                    ("async submit outcome unknown", api.submit("canary", mode="1k")),
                ):
                    paths[label] += 1
                    try:
                        await coro
                    except BaseException as exc:
                        errors.append(exc)

    asyncio.run(async_paths())
    attempt("bad token value", lambda: SharkAPI(token + " \n", base_url="http://127.0.0.1:9"))
    attempt("http to remote", lambda: SharkAPI(token, base_url="http://example.com"))

    texts = [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    texts += [logging.Formatter().format(r) for r in caplog.records]
    texts += [repr(api) + str(api) for api, _ in clients]
    for error in errors:
        texts.extend(_texts_of(error))
    leaks = _leaks(token, texts)
    types = collections.Counter(type(e).__name__ for e in errors)
    FIGURES["canary"] = {
        "paths": len(paths),
        "errors_checked": len(errors),
        "errors_by_class": dict(sorted(types.items())),
        "log_records_checked": len(caplog.records),
        "texts_searched": len(texts),
        "leaks": len(leaks),
        "api_requests_with_token": sum(
            r.has_authorization for r in reqs if r.path.startswith("/v1")
        ),
        "image_requests_with_token": sum(r.has_authorization for r in reqs if "/images/" in r.path),
        "image_requests": sum("/images/" in r.path for r in reqs),
    }
    assert not leaks, leaks[:3]
    assert all(isinstance(e, SharkAPIError) for e in errors), [repr(e) for e in errors]
    assert FIGURES["canary"]["image_requests"] >= 1
    assert FIGURES["canary"]["image_requests_with_token"] == 0


# -- other origins -----------------------------------------------------------------------


class Recording:
    """A MockTransport handler that records (host, path, Authorization) and answers by route."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str, str, bool]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        self.seen.append((url.scheme, url.host, url.path, "authorization" in request.headers))
        for key, response in self.routes.items():
            if f"{url.scheme}://{url.host}{url.path}".startswith(key):
                return response
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})


def _job(image_url: str | None, poll_url: str, status: str = "complete") -> dict[str, object]:
    return {
        "job_id": "job_1",
        "status": status,
        "mode": "1k",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:01Z",
        "estimated_cost": "$0.01",
        "cost": "$0.01",
        "image_url": image_url,
        "error": None,
        "poll_url": poll_url,
    }


API = "https://api.sharkapi.dev"


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_token_stays_home(twin: str, tmp_path: Path) -> None:
    token = canary()
    image = PNG + b"\x00" * 100
    queued = {**_job(None, "https://poll.evil.example/v1/jobs/job_1", "queued")}
    routes = {
        f"{API}/v1/generate": httpx.Response(202, json=queued),
        f"{API}/v1/jobs/job_1": httpx.Response(
            200, json=_job("https://cdn.example/img.png", "https://poll.evil.example/x")
        ),
        f"{API}/v1/jobs/job_redirect": httpx.Response(
            302, headers={"Location": "https://evil.example/v1/jobs/job_redirect"}
        ),
        f"{API}/img/cross": httpx.Response(302, headers={"Location": "https://evil.example/i.png"}),
        f"{API}/img/downgrade": httpx.Response(
            302, headers={"Location": f"http://{API[8:]}/i.png"}
        ),
        "https://cdn.example/img.png": httpx.Response(200, content=image),
        "https://evil.example/i.png": httpx.Response(200, content=image),
        "http://api.sharkapi.dev/i.png": httpx.Response(200, content=image),
    }
    rec = Recording(routes)
    # Even a caller's http_client that adds the token to every request must not leak it.
    default_headers = {"Authorization": f"Bearer {token}"}
    outcomes: list[str] = []

    def note(call: object) -> None:
        try:
            result = call()  # type: ignore[operator]
            outcomes.append(type(result).__name__)
        except SharkAPIError as exc:
            outcomes.append(type(exc).__name__)

    if twin == "sync":
        with (
            httpx.Client(transport=httpx.MockTransport(rec), headers=default_headers) as http,
            SharkAPI(token, http_client=http, poll_interval=0.01, sleep=lambda s: None) as api,
        ):
            done = api.generate("a shark", mode="1k", timeout=5)
            note(lambda: api.download(done, tmp_path / "a/"))
            note(lambda: api.get_job("job_redirect"))
            note(lambda: api.download(f"{API}/img/cross", tmp_path / "b/"))
            note(lambda: api.download(f"{API}/img/downgrade", tmp_path / "c/"))
    else:

        async def run() -> None:
            async def no_sleep(seconds: float) -> None:
                return None

            async with (
                httpx.AsyncClient(
                    transport=httpx.MockTransport(rec), headers=default_headers
                ) as http,
                AsyncSharkAPI(token, http_client=http, poll_interval=0.01, sleep=no_sleep) as api,
            ):
                done = await api.generate("a shark", mode="1k", timeout=5)
                for coro in (
                    api.download(done, tmp_path / "a/"),
                    api.get_job("job_redirect"),
                    api.download(f"{API}/img/cross", tmp_path / "b/"),
                    api.download(f"{API}/img/downgrade", tmp_path / "c/"),
                ):
                    try:
                        outcomes.append(type(await coro).__name__)
                    except SharkAPIError as exc:
                        outcomes.append(type(exc).__name__)

        asyncio.run(run())

    home = [s for s in rec.seen if s[:2] == ("https", "api.sharkapi.dev")]
    away = [s for s in rec.seen if s[:2] != ("https", "api.sharkapi.dev")]
    FIGURES[f"other_origins_{twin}"] = {
        "requests_home": len(home),
        "requests_home_with_token": sum(s[3] for s in home if s[2].startswith("/v1/")),
        "requests_elsewhere": len(away),
        "requests_elsewhere_with_token": sum(s[3] for s in away),
        "image_requests_home_with_token": sum(s[3] for s in home if s[2].startswith("/img")),
        "hosts_elsewhere": sorted({f"{s[0]}://{s[1]}" for s in away}),
        "outcomes": outcomes,
    }
    assert not any(s[1] == "poll.evil.example" for s in rec.seen), "poll_url was followed"
    assert not any(s[3] for s in away), away
    assert all(s[3] for s in home if s[2].startswith("/v1/")), "API requests lost their token"
    assert not any(s[3] for s in home if s[2].startswith("/img")), "image requests carry the token"
    assert outcomes[1] == "UnexpectedResponseError"  # the API's redirect is not followed
    assert ("https", "evil.example", "/v1/jobs/job_redirect", True) not in rec.seen


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("http://api.sharkapi.dev", False),
        ("http://example.com:8080", False),
        ("http://127.0.0.1.evil.example", False),
        ("http://localhost.evil.example", False),
        ("http://2130706433", False),
        ("http://10.0.0.1", False),
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://127.5.6.7", True),
        ("https://api.sharkapi.dev", True),
    ],
)
def test_plain_http_refused_unless_loopback(base_url: str, allowed: bool) -> None:
    for cls in (SharkAPI, AsyncSharkAPI):
        if allowed:
            cls("sk_test_x", base_url=base_url)
        else:
            with pytest.raises(InvalidRequestError):
                cls("sk_test_x", base_url=base_url)
            cls("sk_test_x", base_url=base_url, allow_insecure_http=True)
    FIGURES.setdefault("plain_http_cases", 0)
    FIGURES["plain_http_cases"] += 2  # type: ignore[operator]


# -- downloads -----------------------------------------------------------------------------

CAP = 1024 * 1024


class CountingStream(httpx.SyncByteStream):
    """A response body that counts the bytes the client actually pulled."""

    def __init__(self, data: Iterator[bytes] | list[bytes], fail_after: int | None = None) -> None:
        self.data = data
        self.pulled = 0
        self.fail_after = fail_after

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.data:
            if self.fail_after is not None and self.pulled >= self.fail_after:
                raise httpx.ReadError("connection reset mid-body")
            self.pulled += len(chunk)
            yield chunk


def _chunks(total: int, head: bytes = PNG, size: int = 64 * 1024) -> Iterator[bytes]:
    yield head
    sent = len(head)
    block = b"\x00" * size
    while sent < total:
        yield block
        sent += size


def _download(stream: CountingStream, headers: dict[str, str], dest: Path) -> BaseException | Path:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=stream)

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        SharkAPI("sk_test_x", http_client=http, max_retries=0) as api,
    ):
        try:
            return api.download("https://cdn.example/../../img.png?name=../x", dest, max_bytes=CAP)
        except SharkAPIError as exc:
            return exc


def _files(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder.parent)) for p in folder.parent.rglob("*") if p.is_file()
    )


def test_download_limits(tmp_path: Path) -> None:
    figures: dict[str, object] = {"cap_bytes": CAP}
    dest = tmp_path / "out"
    dest.mkdir()

    # A lying Content-Length: claims 1000 bytes, sends 64 MiB.
    lying = CountingStream(_chunks(64 * CAP))
    result = _download(lying, {"Content-Length": "1000"}, dest)
    figures["lying_content_length"] = {"error": type(result).__name__, "bytes_read": lying.pulled}
    assert isinstance(result, DownloadError)
    assert lying.pulled <= CAP + 128 * 1024
    assert _files(dest) == []

    # A gzip bomb: 64 MiB of zeros behind a PNG signature, compressed to ~64 KiB.
    bomb = gzip.compress(PNG + b"\x00" * (64 * CAP), compresslevel=9)
    stream = CountingStream([bomb[i : i + 1024] for i in range(0, len(bomb), 1024)])
    result = _download(stream, {"Content-Encoding": "gzip"}, dest)
    figures["gzip_bomb"] = {
        "error": type(result).__name__,
        "compressed_bytes": len(bomb),
        "compressed_bytes_read": stream.pulled,
        "inflates_to": 64 * CAP + len(PNG),
    }
    assert isinstance(result, DownloadError)
    # Inflation stops at the cap: the compressed bytes read inflate to little over it.
    assert stream.pulled < len(bomb) // 8
    assert _files(dest) == []

    # Magic bytes: a GIF (or HTML) is not an image.
    for name, body in (("gif", b"GIF89a" + b"\x00" * 100), ("html", b"<html>hello</html>")):
        result = _download(CountingStream([body]), {}, dest)
        figures[f"magic_{name}"] = type(result).__name__
        assert isinstance(result, DownloadError)
    assert _files(dest) == []

    # Interrupted mid-body: no partial file, no temporary file left.
    broken = CountingStream(_chunks(4 * 65536), fail_after=2 * 65536)
    result = _download(broken, {"Content-Length": str(4 * 65536 + len(PNG))}, dest)
    figures["interrupted"] = {"error": type(result).__name__, "files_left": _files(dest)}
    assert isinstance(result, APIConnectionError | DownloadError)
    assert _files(dest) == []

    # Server-supplied names cannot escape: Content-Disposition and a '../' URL are ignored.
    result = _download(
        CountingStream([PNG + b"\x00" * 10]),
        {"Content-Disposition": 'attachment; filename="../../escaped.png"'},
        dest,
    )
    assert isinstance(result, Path), result
    assert result.resolve().parent == dest.resolve()
    assert not list(tmp_path.rglob("escaped*"))
    figures["server_names"] = {"saved_as": result.name}
    FIGURES["downloads"] = figures
