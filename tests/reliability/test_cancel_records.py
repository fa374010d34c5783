"""Issue 21, class 1: a cancelled or interrupted submit always leaves a record.

`AsyncSharkAPI.generate()` calls are cancelled at random moments (as `asyncio.wait_for`,
a task group or Ctrl-C do) against a real sandbox over loopback whose answers are
delayed, so that many cancellations land while the POST is in flight and the server
creates the job anyway. Every job the server created must be named by the exception
that ended its call, or covered by a "a job may have been created" record on it; the
same goes to the ``sharkapi`` logger.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random

import httpx
import pytest
from reliability_helpers import record

import sharkapi_ext as sdk
from sharkapi_ext import AsyncSharkAPI, SharkAPI, job_outcome

N_CALLS = 80


class SlowAnsweringAPI:
    """A loopback HTTP server that creates each job as soon as it has read the submit,
    then takes a while to answer: the window in which a cancelled client used to lose
    the job. Polls answer ``complete`` at once.
    """

    def __init__(self) -> None:
        self.created: dict[str, str] = {}  # prompt -> job id
        self.server: asyncio.base_events.Server | None = None
        self.rng = random.Random(7)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await asyncio.sleep(0.1)  # let handlers of cancelled clients create their jobs

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":")[1])
                body = await reader.readexactly(length) if length else b""
                if method == "POST":
                    prompt = json.loads(body)["prompt"]
                    job_id = f"job_{len(self.created):06d}"
                    self.created[prompt] = job_id  # created (and to be charged) here
                    await asyncio.sleep(self.rng.uniform(0.0, 0.08))
                    status, payload = (
                        202,
                        {
                            "job_id": job_id,
                            "status": "queued",
                            "estimated_cost": "$0.01",
                            "poll_url": f"/v1/jobs/{job_id}",
                            "created_at": "2025-01-02T03:04:05Z",
                        },
                    )
                else:
                    job_id = path.rsplit("/", 1)[1]
                    await asyncio.sleep(self.rng.uniform(0.0, 0.02))
                    status, payload = (
                        200,
                        {
                            "job_id": job_id,
                            "status": "processing",
                            "mode": "1k",
                            "created_at": "2025-01-02T03:04:05Z",
                            "updated_at": None,
                            "estimated_cost": "$0.01",
                            "cost": None,
                            "image_url": None,
                            "error": None,
                            "poll_url": f"/v1/jobs/{job_id}",
                        },
                    )
                data = json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test is over (asyncio.run cancels us)
        finally:
            writer.close()


def _cancel_at_random(seed: int) -> tuple[list[BaseException | None], dict[str, str]]:
    rng = random.Random(seed)
    results: list[BaseException | None] = [None] * N_CALLS
    server = SlowAnsweringAPI()

    async def main() -> None:
        base_url = await server.start()
        api = AsyncSharkAPI(
            "sk_test_abcdefgh", base_url=base_url, max_retries=0, poll_interval=0.01
        )
        try:
            # Warm up (schema checks compiled), so that the random moments below fall
            # on the wire, not on the first call's set-up.
            await api.submit("warm-up", mode="1k")

            async def one(index: int) -> None:
                try:
                    await asyncio.wait_for(
                        api.generate(f"shark number {index}", mode="1k", timeout=30),
                        timeout=rng.uniform(0.0, 0.25),
                    )
                except BaseException as exc:
                    results[index] = exc

            await asyncio.gather(*(one(i) for i in range(N_CALLS)))
        finally:
            await api.aclose()
            await server.stop()

    asyncio.run(main())
    return results, server.created


def _outcome(exc: BaseException | None) -> sdk.JobOutcome:
    # asyncio.wait_for raises TimeoutError from the CancelledError that ended the call:
    # the record rides on the cancellation, its __context__, which job_outcome searches.
    return sdk.JobOutcome(False, None) if exc is None else job_outcome(exc)


def test_every_created_job_of_a_cancelled_generate_is_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sharkapi")
    lost = []
    created_total = in_flight_records = named = 0
    # Rounds until both cases were seen several times (a loaded machine shifts the
    # moments): cancelled on the wire (no id yet), and after the 202.
    for seed in range(1, 9):
        results, created = _cancel_at_random(seed)
        created_total += len(created)
        for index, exc in enumerate(results):
            job_id = created.get(f"shark number {index}")
            if job_id is None:
                continue
            outcome = _outcome(exc)
            if not outcome.may_exist or outcome.job_id not in (None, job_id):
                lost.append((seed, index, job_id, repr(exc)))
            elif outcome.job_id is None:
                in_flight_records += 1
            else:
                named += 1
        if in_flight_records >= 5 and named >= 5 and seed >= 2:
            break
    record(
        "cancel_records",
        {
            "rounds": seed,
            "calls": seed * N_CALLS,
            "jobs_created": created_total,
            "named_by_id": named,
            "may_have_been_created": in_flight_records,
            "left_no_record": len(lost),
        },
    )
    assert not lost, f"{len(lost)} of {created_total} created jobs left no record: {lost[:3]}"
    assert in_flight_records >= 5, "too few cancellations on the wire: the test exercised little"
    assert named >= 5
    logged = [r.getMessage() for r in caplog.records if r.name == "sharkapi"]
    assert sum("may have been created" in m for m in logged) >= in_flight_records
    assert sum("was submitted" in m for m in logged) >= named


def test_cancellation_while_queued_for_a_connection_records_nothing() -> None:
    """A submit cancelled before it left (waiting for the client's gate) made no job."""

    async def main() -> BaseException:
        entered = asyncio.Event()
        release = asyncio.Event()

        async def handler(request: httpx.Request) -> httpx.Response:
            entered.set()
            await release.wait()
            return httpx.Response(500)

        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        api = AsyncSharkAPI("sk_test_abcdefgh", base_url="https://api.example", http_client=http)
        api._admission._gate = asyncio.Semaphore(1)  # one at a time: the second one queues
        first = asyncio.create_task(api.submit("first", mode="1k"))
        await entered.wait()
        second = asyncio.create_task(api.submit("second", mode="1k"))
        await asyncio.sleep(0)
        second.cancel()
        try:
            await second
        except asyncio.CancelledError as exc:
            caught: BaseException = exc
        release.set()
        with pytest.raises(sdk.InternalServerError) as info:
            await first
        assert info.value.job_may_exist  # a 500 after a submit: the job may exist
        await http.aclose()
        return caught

    exc = asyncio.run(main())
    assert job_outcome(exc) == sdk.JobOutcome(False, None)
    assert not getattr(exc, "__notes__", None)


def test_sync_keyboard_interrupt_during_submit_is_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt  # Ctrl-C while the POST is on the wire

    caplog.set_level(logging.WARNING, logger="sharkapi")
    http = httpx.Client(transport=httpx.MockTransport(handler))
    with SharkAPI("sk_test_abcdefgh", base_url="https://api.example", http_client=http) as api:
        with pytest.raises(KeyboardInterrupt) as info:
            api.generate("a shark", mode="1k")
    assert job_outcome(info.value) == sdk.JobOutcome(True, None)
    assert any("may have been created" in note for note in info.value.__notes__)
    assert any("may have been created" in r.getMessage() for r in caplog.records)


def test_interrupt_after_the_job_was_created_names_it() -> None:
    polls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        if request.method == "POST":
            return httpx.Response(
                202,
                json={
                    "job_id": "job_abc123",
                    "status": "queued",
                    "estimated_cost": "$0.01",
                    "poll_url": "https://api.example/v1/jobs/job_abc123",
                    "created_at": "2025-01-02T03:04:05Z",
                },
            )
        polls += 1
        raise KeyboardInterrupt

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with SharkAPI(
        "sk_test_abcdefgh", base_url="https://api.example", http_client=http, sleep=lambda s: None
    ) as api:
        with pytest.raises(KeyboardInterrupt) as info:
            api.generate("a shark", mode="1k")
    assert job_outcome(info.value) == sdk.JobOutcome(True, "job_abc123")
    assert polls == 1


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_a_closed_client_refuses_before_sending(twin: str) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    if twin == "sync":
        api = SharkAPI("sk_test_abcdefgh", base_url="https://api.example")
        api._http = httpx.Client(transport=httpx.MockTransport(handler))
        api.close()
        with pytest.raises(sdk.ClientClosedError, match="closed; nothing was sent"):
            api.get_job("job_abc123")
        with pytest.raises(sdk.ClientClosedError):
            api.submit("a shark", mode="1k")
    else:

        async def main() -> None:
            api = AsyncSharkAPI("sk_test_abcdefgh", base_url="https://api.example")
            await api.aclose()
            with pytest.raises(sdk.ClientClosedError):
                await api.get_job("job_abc123")
            with pytest.raises(RuntimeError):  # also a RuntimeError, as httpx raises
                await api.generate("a shark", mode="1k")

        asyncio.run(main())
    assert not sent


def test_a_closed_http_client_is_refused_too() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    api = SharkAPI("sk_test_abcdefgh", base_url="https://api.example", http_client=http)
    http.close()
    with pytest.raises(sdk.ClientClosedError, match="http_client was closed"):
        api.get_job("job_abc123")
