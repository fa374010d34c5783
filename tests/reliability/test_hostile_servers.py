"""Hostile servers, round 2 (issue 12): one raw-socket server on 127.0.0.1 per case.

Each class of the issue has its regression test here, on both twins where it applies,
each with a hard time bound (`pytest.mark.timeout`) so that a hang fails instead of
stalling CI. These are faults the sandbox cannot play: compressed bodies that never end
or never decode, absurd Retry-After values, image sources that never end, a connection
gate full of waiting submits, a full disk, and servers that echo the token.

Every case appends a row to `ROWS`; the last test records them for RELIABILITY.md
(`scripts/reliability`, section "Hostile servers").
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx_aiohttp  # noqa: F401  # its first import (~0.4 s) must not count as a call's time
import pytest
from reliability_helpers import RawServer

from sharkapi_ext import (
    MAX_IMAGE_BYTES,
    APIConnectionError,
    APITimeoutError,
    AsyncSharkAPI,
    AuthenticationError,
    DownloadError,
    InternalServerError,
    InvalidRequestError,
    JobStatus,
    ServiceUnavailableError,
    SharkAPI,
    SubmissionOutcomeUnknownError,
    UnexpectedResponseError,
    WaitTimeoutError,
    aiohttp_http_client,
)
from sharkapi_ext._retry import RetryPolicy

TOKEN = "sk_test_HOSTILE_b8e1d2c3a4f5"
# The async twin runs on httpx's own transport and on the aiohttp one.
TWINS = ("sync", "async", "async-aiohttp")
TIMEOUT = 0.5
SLACK = 0.5
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 64
ROWS: list[dict[str, object]] = []


# -- a small HTTP vocabulary over raw sockets ------------------------------------------


def job_json(job_id: str = "job_1", status: str = "queued", **extra: object) -> bytes:
    body: dict[str, object] = {
        "job_id": job_id,
        "status": status,
        "mode": "1k",
        "created_at": "2024-01-01T00:00:00Z",
        "estimated_cost": "$0.01",
        "poll_url": f"http://127.0.0.1/v1/jobs/{job_id}",
        **extra,
    }
    return json.dumps(body).encode()


def respond(
    conn: socket.socket,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    head = f"HTTP/1.1 {status} Hostile\r\n"
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        head += f"{name}: {value}\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    conn.sendall(head.encode() + body)


def target(head: bytes) -> tuple[str, str]:
    method, path = head.split(b"\r\n", 1)[0].split(b" ")[:2]
    return method.decode(), path.decode()


def serve(handler: Callable[[RawServer, socket.socket, str, str], None]) -> RawServer:
    """A server whose every connection reads one request and passes it to `handler`."""
    server: RawServer

    def run(conn: socket.socket) -> None:
        head = server.read_request(conn)
        if head:
            handler(server, conn, *target(head))

    server = RawServer(run)
    return server


def call(twin: str, op: Callable[[Any], Any], **options: Any) -> tuple[object, float]:
    """Run `op(client)` on a fresh client of `twin`; returns (result or exception, seconds)."""
    options = {"timeout": TIMEOUT, "max_retries": 0, **options}
    started = time.perf_counter()
    try:
        if twin == "sync":
            with SharkAPI(TOKEN, **options) as client:
                result: object = op(client)
        else:

            async def main() -> object:
                if twin == "async-aiohttp" and "http_client" not in options:
                    async with (
                        aiohttp_http_client() as http,
                        AsyncSharkAPI(TOKEN, http_client=http, **options) as client,
                    ):
                        return await op(client)
                async with AsyncSharkAPI(TOKEN, **options) as client:
                    return await op(client)

            result = asyncio.run(main())
    except Exception as exc:
        result = exc
    return result, time.perf_counter() - started


def row(klass: int, case: str, twin: str, outcome: object, seconds: float, **more: object) -> None:
    ROWS.append(
        {
            "class": klass,
            "case": case,
            "twin": twin,
            "outcome": type(outcome).__name__,
            "seconds": round(seconds, 2),
            **more,
        }
    )


def complete_status(base_url: str, path: str = "/img/job_1.png") -> JobStatus:
    from sharkapi_ext._models import parse_job_status

    return parse_job_status(
        job_json(status="complete", image_url=base_url + path, cost="$0.01"), 200
    )


# -- class 1: compressed answers that never end or never decode ------------------------

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
EMPTY_STORED_BLOCK = b"\x00\x00\x00\xff\xff"  # decodes to nothing, forever


def endless_empty_gzip(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
    status = "202 Accepted" if method == "POST" else "200 OK"
    conn.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )

    def chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    conn.sendall(chunk(GZIP_HEADER))
    while not server.wait_stopping(0.005):
        conn.sendall(chunk(EMPTY_STORED_BLOCK * 20))


ENDLESS_OPS: dict[str, tuple[Callable[[Any, str, Path], Any], tuple[type[Exception], ...]]] = {
    "submit": (lambda c, _, __: c.submit("a shark", mode="1k"), (SubmissionOutcomeUnknownError,)),
    "get_job": (lambda c, _, __: c.get_job("job_1"), (APITimeoutError,)),
    "wait": (lambda c, _, __: c.wait("job_1", timeout=TIMEOUT), (WaitTimeoutError,)),
    "download": (
        lambda c, url, folder: c.download(url + "/img/x.png", folder, timeout=TIMEOUT),
        (DownloadError, APITimeoutError),
    ),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("op", list(ENDLESS_OPS))
def test_class1_endless_empty_deflate_blocks_end_by_the_deadline(
    twin: str, op: str, tmp_path: Path
) -> None:
    run, expected = ENDLESS_OPS[op]
    with serve(endless_empty_gzip) as server:
        # The call's own deadline must win over a long per-request timeout and retries.
        options = {"timeout": 30.0, "max_retries": 3} if op in ("wait", "download") else {}
        outcome, seconds = call(
            twin, lambda c: run(c, server.base_url, tmp_path), base_url=server.base_url, **options
        )
    row(1, f"endless empty gzip blocks: {op}", twin, outcome, seconds)
    assert isinstance(outcome, expected), repr(outcome)
    assert seconds < TIMEOUT + SLACK, f"{op}/{twin} took {seconds:.2f} s"
    assert not list(tmp_path.glob("*.part"))
    assert not list(tmp_path.glob(".*.part"))


CORRUPT = {
    "gzip": ("gzip", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 64),
    "deflate": ("deflate", b"\xff\xfe\xfd" * 40),
    "truncated gzip": ("gzip", zlib.compress(PNG, wbits=31)[:200]),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("kind", list(CORRUPT))
def test_class1_corrupt_compressed_bodies_are_typed_errors(
    twin: str, kind: str, tmp_path: Path
) -> None:
    encoding, body = CORRUPT[kind]

    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        content_type = "image/png" if path.startswith("/img") else "application/json"
        respond(conn, 200, body, {"Content-Encoding": encoding, "Content-Type": content_type})

    with serve(handler) as server:
        url = server.base_url
        download, seconds = call(twin, lambda c: c.download(url + "/img/a.png", tmp_path))
        poll, _ = call(twin, lambda c: c.get_job("job_1"), base_url=url)
    row(1, f"corrupt {kind}: download", twin, download, seconds)
    row(1, f"corrupt {kind}: get_job", twin, poll, 0.0)
    assert isinstance(download, DownloadError), repr(download)
    assert isinstance(poll, APIConnectionError), repr(poll)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class1_raw_deflate_and_gzip_downloads_still_work(twin: str, tmp_path: Path) -> None:
    bodies = {
        "/img/raw.png": ("deflate", zlib.compress(PNG, wbits=-15)),
        "/img/zlib.png": ("deflate", zlib.compress(PNG)),
        "/img/gzip.png": ("gzip", zlib.compress(PNG, wbits=31)),
    }

    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        encoding, body = bodies[path]
        respond(conn, 200, body, {"Content-Encoding": encoding, "Content-Type": "image/png"})

    with serve(handler) as server:
        for path in bodies:
            saved, _ = call(
                twin, lambda c, p=path: c.download(server.base_url + p, tmp_path / p[5:])
            )
            assert isinstance(saved, Path), repr(saved)
            assert saved.read_bytes() == PNG


# -- class 2: backoff arithmetic --------------------------------------------------------


def test_class2_backoff_is_finite_for_any_count() -> None:
    policy = RetryPolicy()
    for retries in (0, 1, 10, 1023, 1024, 1025, 10**6, 10**18):
        pause = policy.backoff(retries, None)
        assert 0 < pause <= policy.max_backoff, (retries, pause)
    assert policy.backoff(3, 0.000001) >= policy.initial_backoff * (1 - policy.jitter)


class SteppedClock:
    """A clock that moves only when the client sleeps (the refusals are real)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("twin", TWINS)
def test_class2_a_long_wait_on_refused_connections_never_overflows(twin: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once this block ends: connections are refused
    clock = SteppedClock()
    hours = 3.0
    outcome, seconds = call(
        twin,
        lambda c: c.wait("job_1", timeout=hours * 3600),
        base_url=f"http://127.0.0.1:{port}",
        clock=clock,
        sleep=clock.sleep if twin == "sync" else clock.asleep,
    )
    row(
        2,
        f"wait {hours:g} h (injected clock) on refused connections",
        twin,
        outcome,
        seconds,
        retries=clock.sleeps,
    )
    assert isinstance(outcome, WaitTimeoutError), repr(outcome)
    assert clock.sleeps > 1024, clock.sleeps  # past the point where 2.0 ** n overflowed


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class2_tiny_retry_after_does_not_busy_loop(twin: str) -> None:
    polls = [0]

    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        polls[0] += 1
        respond(conn, 429, b'{"error":{"code":"slow_down"}}', {"Retry-After": "0.000001"})

    seconds_waited = 2.0
    with serve(handler) as server:
        outcome, seconds = call(
            twin,
            lambda c: c.wait("job_1", timeout=seconds_waited, poll_interval=0.05),
            base_url=server.base_url,
            timeout=5.0,
        )
    row(
        2,
        f"Retry-After 0.000001 for a {seconds_waited:g} s wait",
        twin,
        outcome,
        seconds,
        polls=polls[0],
        polls_per_minute=round(polls[0] * 60 / seconds),
    )
    assert isinstance(outcome, WaitTimeoutError), repr(outcome)
    # 0.5 s, 1 s, then 2 s apart: a handful, not 40,000 a minute.
    assert polls[0] <= 6, polls[0]


# -- class 3: every timeout is a promise ------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class3_generate_timeout_bounds_the_submit_retries(twin: str) -> None:
    posts = [0]

    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        posts[0] += 1
        respond(conn, 503, b'{"error":{"code":"unavailable"}}')  # no Retry-After: "30 s"

    with serve(handler) as server:
        outcome, seconds = call(
            twin,
            lambda c: c.generate("a shark", mode="1k", timeout=1.0),
            base_url=server.base_url,
            timeout=30.0,
            max_retries=2,
        )
    row(3, "generate(timeout=1), 503 without Retry-After", twin, outcome, seconds, posts=posts[0])
    assert isinstance(outcome, ServiceUnavailableError), repr(outcome)
    assert 0.9 <= seconds < 1.0 + SLACK, seconds


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class3_download_timeout_bounds_every_retry(twin: str, tmp_path: Path) -> None:
    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        server.wait_stopping(30)  # never answers

    with serve(handler) as server:
        outcome, seconds = call(
            twin,
            lambda c: c.download(server.base_url + "/img/a.png", tmp_path, timeout=1.0),
            timeout=30.0,
            max_retries=5,
        )
        attempts = server.accepted
    row(3, "download(timeout=1), server never answers", twin, outcome, seconds, attempts=attempts)
    assert isinstance(outcome, APITimeoutError), repr(outcome)
    assert seconds < 1.0 + SLACK, seconds
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class3_wait_does_not_give_up_while_time_remains(twin: str) -> None:
    polls = [0]

    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        polls[0] += 1
        if polls[0] == 1:
            respond(conn, 503, b'{"error":{"code":"unavailable"}}')  # asks for 30 s
        else:
            respond(conn, 200, job_json(status="complete", image_url="http://x/i.png"))

    with serve(handler) as server:
        outcome, seconds = call(
            twin, lambda c: c.wait("job_1", timeout=1.5), base_url=server.base_url, timeout=5.0
        )
    row(3, "wait(timeout=1.5), one 503 without Retry-After", twin, outcome, seconds, polls=polls[0])
    # The 503 asked for 30 s: the wait spends all of its 1.5 s, then reports; never earlier.
    assert isinstance(outcome, WaitTimeoutError), repr(outcome)
    assert 1.45 <= seconds < 1.5 + SLACK, seconds


# -- class 4: image sources that never end ----------------------------------------------


def _never_called(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
    respond(conn, 500)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class4_fifo_and_devices_are_refused_before_sending(twin: str, tmp_path: Path) -> None:
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    with serve(_never_called) as server:
        for name, source in (("FIFO path", fifo), ("/dev/zero path", Path("/dev/zero"))):
            outcome, seconds = call(
                twin,
                lambda c, s=source: c.submit("x", mode="1k", image=s),
                base_url=server.base_url,
            )
            row(4, f"image={name}", twin, outcome, seconds, requests_sent=server.accepted)
            assert isinstance(outcome, InvalidRequestError), repr(outcome)
            assert "regular file" in str(outcome)
            assert seconds < 1.0
        assert server.accepted == 0


@pytest.mark.timeout(20)
def test_class4_cli_generate_refuses_a_fifo_image(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sharkapi_ext.cli import cli

    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    with serve(_never_called) as server:
        started = time.perf_counter()
        result = CliRunner().invoke(
            cli,
            [
                "generate",
                "a shark",
                "--image",
                str(fifo),
                "--base-url",
                server.base_url,
                "--token",
                TOKEN,
                "-o",
                str(tmp_path / "out.png"),
            ],
        )
        seconds = time.perf_counter() - started
        sent = server.accepted
    row(
        4,
        "sharkapi generate --image FIFO",
        "cli",
        None,
        seconds,
        exit_code=result.exit_code,
        requests_sent=sent,
    )
    assert result.exit_code == 2, result.output
    assert "regular file" in result.output
    assert sent == 0


class CountingReader:
    """A binary file object over an endless source that counts what was read from it."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "rb")  # noqa: SIM115 - closed by the test
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.read_bytes += len(data)
        return data


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class4_endless_file_object_reads_at_most_the_limit(twin: str) -> None:
    source = CountingReader("/dev/zero")
    try:
        with serve(_never_called) as server:
            outcome, seconds = call(
                twin, lambda c: c.submit("x", mode="1k", image=source), base_url=server.base_url
            )
            sent = server.accepted
    finally:
        source.file.close()
    row(
        4,
        "image=file object over /dev/zero",
        twin,
        outcome,
        seconds,
        bytes_read=source.read_bytes,
        requests_sent=sent,
    )
    assert isinstance(outcome, InvalidRequestError), repr(outcome)
    assert source.read_bytes == MAX_IMAGE_BYTES + 1
    assert sent == 0


# -- class 5: waiting for a connection is not "outcome unknown" -------------------------

CONCURRENT = 300
# Long enough for the first hundred connections to be made on a busy 2-core machine, so
# that both kinds of outcome show up; the server answers none of them in time.
GATE_TIMEOUT = 1.0


def settled(counter: list[int], quiet: float = 0.5, limit: float = 5.0) -> int:
    """The count once it stops moving: on a busy machine the server's threads may read
    the last requests after the client has given up on them, and those arrived too."""
    end = time.monotonic() + limit
    last = -1
    while counter[0] != last and time.monotonic() < end:
        last = counter[0]
        time.sleep(quiet)
    return counter[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("max_retries", [0, 2])
def test_class5_async_submits_stuck_behind_the_gate_were_never_sent(max_retries: int) -> None:
    posts = [0]
    lock = threading.Lock()

    def slow(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        with lock:
            posts[0] += 1
        server.wait_stopping(10)  # slower than any timeout here

    async def main(base_url: str) -> list[object]:
        async with AsyncSharkAPI(
            TOKEN, base_url=base_url, timeout=GATE_TIMEOUT, max_retries=max_retries
        ) as client:
            return await asyncio.gather(
                *(client.submit(f"shark {i}", mode="1k") for i in range(CONCURRENT)),
                return_exceptions=True,
            )

    with serve(slow) as server:
        started = time.perf_counter()
        outcomes = asyncio.run(main(server.base_url))
        seconds = time.perf_counter() - started
        arrived = settled(posts)
    unknown = sum(isinstance(o, SubmissionOutcomeUnknownError) for o in outcomes)
    never_sent = [
        o
        for o in outcomes
        if isinstance(o, APIConnectionError) and not isinstance(o, SubmissionOutcomeUnknownError)
    ]
    figures = {
        "submits": CONCURRENT,
        "posts_arrived": arrived,
        "outcome_unknown": unknown,
        "never_sent_errors": len(never_sent),
        "other": CONCURRENT - unknown - len(never_sent),
    }
    row(
        5,
        f"{CONCURRENT} concurrent submits, slow server, max_retries={max_retries}",
        "async",
        None,
        seconds,
        **figures,
    )
    assert unknown <= arrived, figures
    assert unknown + len(never_sent) == CONCURRENT, figures
    assert all("nothing was sent" in str(o) for o in never_sent), never_sent[:1]


@pytest.mark.timeout(60)
def test_class5_sync_submits_stuck_in_the_pool_were_never_sent() -> None:
    import httpx

    posts = [0]
    lock = threading.Lock()

    def slow(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        with lock:
            posts[0] += 1
        server.wait_stopping(10)

    results: list[object] = []
    with serve(slow) as server, httpx.Client(limits=httpx.Limits(max_connections=4)) as http:
        client = SharkAPI(
            TOKEN, base_url=server.base_url, timeout=TIMEOUT, http_client=http, max_retries=0
        )

        def one(i: int) -> None:
            try:
                results.append(client.submit(f"shark {i}", mode="1k"))
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        seconds = time.perf_counter() - started
        arrived = settled(posts)
    unknown = sum(isinstance(o, SubmissionOutcomeUnknownError) for o in results)
    row(
        5,
        "40 threads, pool of 4, slow server",
        "sync",
        None,
        seconds,
        submits=40,
        posts_arrived=arrived,
        outcome_unknown=unknown,
    )
    assert len(results) == 40
    assert unknown <= arrived, (unknown, arrived)


# -- class 6: local failures during download --------------------------------------------

FULL_DISK_SCRIPT = r"""
import asyncio, json, os, resource, signal, sys
from pathlib import Path
from sharkapi_ext import AsyncSharkAPI, SharkAPI
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # the write fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
url, folder = sys.argv[1], Path(sys.argv[2])
out = {}
def outcome(fn):
    try:
        return type(fn()).__name__
    except Exception as exc:
        return type(exc).__name__ + ": " + str(exc)[:200]
with SharkAPI("sk_test_x") as c:
    out["sync"] = outcome(lambda: c.download(url, folder / "sync.png"))
async def main():
    async with AsyncSharkAPI("sk_test_x") as c:
        try:
            return type(await c.download(url, folder / "async.png")).__name__
        except Exception as exc:
            return type(exc).__name__ + ": " + str(exc)[:200]
out["async"] = asyncio.run(main())
out["left"] = sorted(p.name for p in folder.iterdir())
print(json.dumps(out))
"""


@pytest.mark.timeout(60)
def test_class6_full_disk_is_a_download_error_and_leaves_no_part_file(tmp_path: Path) -> None:
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(1024 * 1024)

    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        respond(conn, 200, big, {"Content-Type": "image/png"})

    with serve(handler) as server:
        started = time.perf_counter()
        # The file-size limit makes writes past 64 KiB fail, as a full disk does; in a
        # child process, so that pytest's own files are not limited.
        proc = subprocess.run(
            [sys.executable, "-c", FULL_DISK_SCRIPT, server.base_url + "/img/a.png", tmp_path],
            capture_output=True,
            text=True,
            timeout=45,
            check=False,
        )
        seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for twin in ("sync", "async"):  # the child script's two clients
        row(
            6,
            "disk full (RLIMIT_FSIZE 64 KiB)",
            twin,
            None,
            seconds / 2,
            error=out[twin].split(":")[0],
            files_left=out["left"],
        )
        assert out[twin].startswith("DownloadError"), out
    assert out["left"] == [], out


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class6_a_name_too_long_is_a_download_error(twin: str, tmp_path: Path) -> None:
    with serve(lambda s, c, m, p: respond(c, 200, PNG, {"Content-Type": "image/png"})) as server:
        for name, dest in (
            ("file name of 300 bytes", tmp_path / ("a" * 296 + ".png")),
            ("folder name of 300 bytes", tmp_path / ("d" * 300) / "x.png"),
        ):
            outcome, seconds = call(
                twin, lambda c, d=dest: c.download(server.base_url + "/img/a.png", d)
            )
            row(6, name, twin, outcome, seconds, requests_sent=server.accepted)
            assert isinstance(outcome, DownloadError), repr(outcome)
        assert server.accepted == 0  # refused before fetching
    assert list(tmp_path.iterdir()) == []


# -- class 8: secrets a server echoes ---------------------------------------------------


def echo_token(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
    if path.startswith("/v1/jobs/job_401"):
        respond(
            conn,
            401,
            json.dumps(
                {"error": {"code": "invalid_token", "message": f"invalid token {TOKEN}"}}
            ).encode(),
        )
    elif path.startswith("/v1/jobs/job_proxy"):
        page = f"<html><pre>Authorization: Bearer {TOKEN}\nAccept: */*</pre></html>"
        respond(conn, 502, page.encode(), {"Content-Type": "text/html", "X-Echo": TOKEN})
    elif path.startswith("/v1/jobs/job_garbled"):
        respond(conn, 200, f'{{"job_id": "job_garbled", "note": "{TOKEN}"'.encode())
    else:  # a submit answered with a 500 quoting the request, URL-encoded
        quoted = TOKEN.replace("_", "%5F")
        respond(conn, 500, f'{{"error": "bad request from token={quoted} {TOKEN}"}}'.encode())


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class8_an_echoed_token_is_redacted_everywhere(
    twin: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sharkapi")
    ops = {
        "401 body": (lambda c: c.get_job("job_401"), AuthenticationError),
        "proxy page": (lambda c: c.get_job("job_proxy"), InternalServerError),
        "unparsable 200": (lambda c: c.get_job("job_garbled"), UnexpectedResponseError),
        "submit 500": (lambda c: c.submit("x", mode="1k"), InternalServerError),
    }
    with serve(echo_token) as server:
        for name, (op, expected) in ops.items():
            outcome, seconds = call(twin, op, base_url=server.base_url, max_retries=1)
            assert isinstance(outcome, expected), repr(outcome)
            texts = [str(outcome), repr(outcome), repr(vars(outcome))]
            texts += [str(getattr(outcome, "body", "")), str(getattr(outcome, "headers", ""))]
            leaks = [t for t in texts if TOKEN in t or TOKEN.replace("_", "%5F") in t]
            row(8, f"echoed token: {name}", twin, outcome, seconds, leaks=len(leaks))
            assert not leaks, leaks
            assert "[REDACTED]" in str(outcome) + str(getattr(outcome, "body", ""))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged


@pytest.mark.timeout(60)
def test_class8_cli_stderr_journal_and_settings_hold_no_token(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sharkapi_ext.cli import cli
    from sharkapi_ext.cli._settings import Settings

    assert TOKEN not in repr(Settings(base_url="http://127.0.0.1", token=TOKEN))
    lines = tmp_path / "prompts.jsonl"
    lines.write_text('{"prompt": "a shark"}\n{"prompt": "two sharks"}\n')
    out = tmp_path / "out"
    with serve(echo_token) as server:
        runner = CliRunner()
        status = runner.invoke(
            cli, ["status", "job_401", "--base-url", server.base_url, "--token", TOKEN]
        )
        batch = runner.invoke(
            cli,
            [
                "batch",
                str(lines),
                "--out",
                str(out),
                "--base-url",
                server.base_url,
                "--token",
                TOKEN,
            ],
        )
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    row(
        8,
        "CLI stderr, batch journal, Settings repr",
        "cli",
        None,
        0.0,
        status_exit=status.exit_code,
        batch_exit=batch.exit_code,
        files_checked=len(files),
    )
    assert status.exit_code != 0
    assert "[REDACTED]" in status.output
    for text in (status.output, batch.output, str(status.exception), str(batch.exception)):
        assert TOKEN not in text
    assert len(files) >= 2, files  # the prompts and the journal
    for path, data in files.items():
        assert TOKEN.encode() not in data, path
    assert any(b"[REDACTED]" in data for data in files.values()), "the echo was not journaled"


# -- class 9: small ones ----------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class9_complete_without_image_url_is_a_server_fault(twin: str) -> None:
    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        respond(conn, 200, job_json(status="complete", cost="$0.01"))

    with serve(handler) as server:
        outcome, seconds = call(
            twin, lambda c: _wait_then_download(c, twin), base_url=server.base_url
        )
    row(9, "complete job without image_url", twin, outcome, seconds)
    assert isinstance(outcome, UnexpectedResponseError), repr(outcome)
    assert not isinstance(outcome, InvalidRequestError)
    assert outcome.job_id == "job_1"


def _wait_then_download(client: Any, twin: str) -> Any:
    if twin == "sync":
        return client.download(client.wait("job_1", timeout=2))

    async def run() -> Any:
        return await client.download(await client.wait("job_1", timeout=2))

    return run()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("twin", TWINS)
def test_class9_downloads_mode_extension_and_signed_urls(twin: str, tmp_path: Path) -> None:
    def handler(server: RawServer, conn: socket.socket, method: str, path: str) -> None:
        if path.startswith("/img/jpeg"):
            respond(conn, 200, JPEG, {"Content-Type": "image/png"})  # the type lies
        else:
            respond(conn, 404, b"<html>gone</html>", {"Content-Type": "text/html"})

    old_umask = os.umask(0o027)
    try:
        with serve(handler) as server:
            status = complete_status(server.base_url, "/img/jpeg")
            saved, seconds = call(twin, lambda c: c.download(status, tmp_path / "shark.png"))
            signed = server.base_url + "/img/gone.png?X-Signature=SECRETSIG&Expires=1"
            missing, _ = call(twin, lambda c: c.download(signed, tmp_path))
    finally:
        os.umask(old_umask)
    assert isinstance(saved, Path), repr(saved)
    mode = stat.S_IMODE(saved.stat().st_mode)
    row(
        9,
        "JPEG for shark.png; umask 027; signed URL 404",
        twin,
        saved,
        seconds,
        saved_as=saved.name,
        mode=oct(mode),
        signature_in_message="SECRETSIG" in str(missing),
    )
    assert saved == tmp_path / "shark.jpg"
    assert saved.read_bytes() == JPEG
    assert mode == 0o640  # 0666 & ~umask, not mkstemp's 0600
    assert isinstance(missing, DownloadError), repr(missing)
    assert "SECRETSIG" not in str(missing)
    assert "Expires" not in str(missing)
    assert "/img/gone.png" in str(missing)


def test_class9_only_literal_loopback_names_allow_plain_http() -> None:
    for cls in (SharkAPI, AsyncSharkAPI):
        for host in ("a.localhost", "localhost.", "evil.localhost"):
            with pytest.raises(InvalidRequestError, match="plain http"):
                cls(TOKEN, base_url=f"http://{host}:8000")
        cls(TOKEN, base_url="http://localhost:8000")
        cls(TOKEN, base_url="http://127.0.0.2:8000")
        cls(TOKEN, base_url="http://[::1]:8000")
    row(
        9,
        "plain http to a.localhost, localhost., evil.localhost",
        "both",
        None,
        0.0,
        refused=6,
        allowed_literal_loopback=6,
    )
