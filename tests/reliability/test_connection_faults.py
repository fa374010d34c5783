"""Connection-level faults a real HTTP server will not make, from a raw-socket server.

Each fault is met by both twins (the async one on httpx's transport and on the aiohttp
one), on `get_job` (a read: retried, then APITimeoutError or
APIConnectionError) and on `submit` (a write that may have created a job:
SubmissionOutcomeUnknownError, never resubmitted). Each call must end within its
deadline: wall time below the timeout plus a small margin. Retries are off (max_retries=0)
so that one attempt's deadline is the whole call's; `wait` is checked separately with its
own overall deadline and a long per-request timeout.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx_aiohttp  # noqa: F401  # its first import (~0.4 s) must not count as a call's time
import pytest
from reliability_helpers import RawServer, Stopwatch

from sharkapi_ext import (
    APIConnectionError,
    APITimeoutError,
    AsyncSharkAPI,
    SharkAPI,
    SubmissionOutcomeUnknownError,
    WaitTimeoutError,
    aiohttp_http_client,
)

TIMEOUT = 0.5
MARGIN = 0.5
TOKEN = "sk_test_connection_faults"
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
JOB_BODY = (
    b'{"job_id":"job_1","status":"queued","mode":"1k","created_at":"2024-01-01T00:00:00Z",'
    b'"estimated_cost":"$0.01","poll_url":"http://127.0.0.1/v1/jobs/job_1"}'
)

RESULTS: list[dict[str, object]] = []


def hang(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    server.wait_stopping(60)


def close_mid_headers(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Ty")


def trickle_body(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    conn.sendall(HEADERS + f"Content-Length: {len(JOB_BODY)}\r\n\r\n".encode())
    for byte in JOB_BODY:
        conn.sendall(bytes([byte]))
        if server.wait_stopping(0.05):
            return


def trickle_headers(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    lines = HEADERS + b"".join(b"X-Pad-%d: shark\r\n" % i for i in range(2000))
    for byte in lines:
        conn.sendall(bytes([byte]))
        if server.wait_stopping(0.02):
            return


def close_before_answer(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)


FAULTS = {
    "hang": hang,
    "close_mid_headers": close_mid_headers,
    "trickle_body": trickle_body,
    "trickle_headers": trickle_headers,
    "close_before_answer": close_before_answer,
}
EXPECTED_READ = {
    "hang": APITimeoutError,
    "close_mid_headers": APIConnectionError,
    "trickle_body": APITimeoutError,
    "trickle_headers": APITimeoutError,
    "close_before_answer": APIConnectionError,
}


def _call(twin: str, op: str, base_url: str, **options: object) -> BaseException | None:
    kwargs = {"base_url": base_url, "timeout": TIMEOUT, "max_retries": 0, **options}
    try:
        if twin == "sync":
            with SharkAPI(TOKEN, **kwargs) as client:
                if op == "submit":
                    client.submit("a shark", mode="1k")
                elif op == "get_job":
                    client.get_job("job_1")
                else:
                    client.wait("job_1", timeout=TIMEOUT)
        else:

            async def run() -> None:
                if twin == "async-aiohttp":
                    async with aiohttp_http_client() as http:
                        await client_calls(AsyncSharkAPI(TOKEN, http_client=http, **kwargs))
                else:
                    await client_calls(AsyncSharkAPI(TOKEN, **kwargs))

            async def client_calls(client: AsyncSharkAPI) -> None:
                async with client:
                    if op == "submit":
                        await client.submit("a shark", mode="1k")
                    elif op == "get_job":
                        await client.get_job("job_1")
                    else:
                        await client.wait("job_1", timeout=TIMEOUT)

            asyncio.run(run())
    except BaseException as exc:
        return exc
    return None


# A server that trickles its response HEADERS, a byte at a time, never trips httpx's
# per-read timeout. The async client bounds the whole exchange (`_deadline`), so
# it passes. The sync client cannot: a blocking read cannot be interrupted from the same
# thread, and httpx gives no hook before the headers are complete. Documented in the
# README as the sync client's one unbounded case; strict, so a fix shows up here.
SYNC_LIMITATIONS = {"trickle_headers"}


def _cases() -> list[object]:
    cases = []
    for fault in sorted(FAULTS):
        for op in ("get_job", "submit", "wait"):
            for twin in ("sync", "async", "async-aiohttp"):
                marks = (
                    [pytest.mark.xfail(strict=True, reason="sync httpx cannot bound header reads")]
                    if fault in SYNC_LIMITATIONS and twin == "sync"
                    else []
                )
                cases.append(pytest.param(fault, op, twin, marks=marks, id=f"{fault}-{op}-{twin}"))
    return cases


@pytest.mark.parametrize(("fault", "op", "twin"), _cases())
def test_connection_fault(fault: str, op: str, twin: str) -> None:
    handler = FAULTS[fault]
    server = RawServer(lambda conn: handler(server, conn))
    options: dict[str, object] = {}
    if op == "wait":
        # The wait's own deadline must win over a long per-request timeout and retries.
        options = {"timeout": 30.0, "max_retries": 5, "poll_interval": 0.05}
    outcome: list[BaseException | None] = []
    with server:
        worker = threading.Thread(
            target=lambda: outcome.append(_call(twin, op, server.base_url, **options)),
            daemon=True,
        )
        with Stopwatch() as watch:
            worker.start()
            # A client that overruns its deadline is cut loose by stopping the server
            # (which closes its connection), so a bug costs seconds, not the suite.
            worker.join(TIMEOUT + MARGIN + 0.25)
        overran = worker.is_alive()
        attempts = server.accepted
    worker.join(10)
    error = outcome[0] if outcome else None
    expected = {
        "submit": SubmissionOutcomeUnknownError,
        "get_job": EXPECTED_READ[fault],
        "wait": WaitTimeoutError,
    }[op]
    RESULTS.append(
        {
            "fault": fault,
            "op": op,
            "twin": twin,
            "error": type(error).__name__,
            "seconds": round(watch.elapsed, 2),
            "connections": attempts,
            "overran_deadline": overran,
        }
    )
    assert not overran, f"{fault}/{op}/{twin} still running after {watch.elapsed:.2f} s"
    assert isinstance(error, expected), f"{fault}/{op}/{twin}: {type(error).__name__}: {error}"
    if op == "submit":
        assert attempts == 1, "a submit that may have reached the server was sent again"
    assert watch.elapsed < TIMEOUT + MARGIN, f"{fault}/{op}/{twin} took {watch.elapsed:.2f} s"


def test_connection_refused_submit_is_retried_and_not_outcome_unknown() -> None:
    """A refused connection never reached the server: retried, then APIConnectionError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for twin in ("sync", "async", "async-aiohttp"):
        error = _call(twin, "submit", f"http://127.0.0.1:{port}", max_retries=1)
        assert isinstance(error, APIConnectionError), error
        assert not isinstance(error, SubmissionOutcomeUnknownError), error


def stall_image_body(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n")
    conn.sendall(b"\x89PNG\r\n\x1a\n")
    server.wait_stopping(60)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("twin", ["sync", "async", "async-aiohttp"])
def test_a_stalled_download_times_out_per_read_and_is_retried_before_its_deadline(
    twin: str, tmp_path: object
) -> None:
    """A download's deadline is the whole call's (300 s by default): a stalled read must
    still end after the client's per-read timeout and be retried, not wait it out."""
    server = RawServer(lambda conn: stall_image_body(server, conn))
    kwargs = {"base_url": "http://127.0.0.1:9", "timeout": TIMEOUT, "max_retries": 1}
    error: BaseException | None = None
    with server, Stopwatch() as watch:
        url = f"{server.base_url}/images/job_1.png"
        try:
            if twin == "sync":
                with SharkAPI(TOKEN, **kwargs) as client:  # type: ignore[arg-type]
                    client.download(url, str(tmp_path), timeout=20)
            else:

                async def run() -> None:
                    if twin == "async-aiohttp":
                        async with aiohttp_http_client() as http:
                            async with AsyncSharkAPI(TOKEN, http_client=http, **kwargs) as client:  # type: ignore[arg-type]
                                await client.download(url, str(tmp_path), timeout=20)
                    else:
                        async with AsyncSharkAPI(TOKEN, **kwargs) as client:  # type: ignore[arg-type]
                            await client.download(url, str(tmp_path), timeout=20)

                asyncio.run(run())
        except BaseException as exc:
            error = exc
        attempts = server.accepted
    assert error is not None
    assert attempts == 2, f"{twin}: {attempts} attempts ({type(error).__name__}: {error})"
    assert watch.elapsed < 2 * TIMEOUT + 2 * MARGIN + 1.0, f"{twin} took {watch.elapsed:.2f} s"
