"""A `generate_image` call cancelled by the host (``notifications/cancelled``).

No result goes back for a cancelled request, so what the server keeps is the record: a
submit cancelled while it was on the wire may have created a paid job, and `list_jobs`
and the log must say so, never forget it; one cancelled before anything was sent is
un-counted and forgotten. Both answers come from the SDK's record on the exception.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp_helpers import run
from sharkapi_spec import DEFAULT_MODE, MODE_PRICES

from sharkapi_ext import AsyncSharkAPI
from sharkapi_ext._exceptions import record_interrupted_job
from sharkapi_ext.mcp import ServerConfig, build_server
from sharkapi_ext.mcp._ledger import Ledger

TOKEN = "sk_test_cancel_0123456789"


def test_a_call_cancelled_while_its_submit_is_on_the_wire_leaves_a_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sharkapi")

    async def body() -> None:
        arrived = anyio.Event()

        async def handler(request: httpx.Request) -> httpx.Response:
            arrived.set()
            await anyio.sleep_forever()  # the submit reached the API; no answer comes
            raise AssertionError("unreachable")

        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncSharkAPI(
            TOKEN, base_url="https://api.test", http_client=http, max_retries=0
        ) as sdk:
            config = ServerConfig(allow_dirs=[tmp_path], output_dir=tmp_path / "out")
            server = build_server(sdk, config, secrets=[TOKEN])
            async with Client(server) as client:
                async with anyio.create_task_group() as group:
                    group.start_soon(client.call_tool, "generate_image", {"prompt": "a shark"})
                    await arrived.wait()
                    group.cancel_scope.cancel()  # the host gives up on the call
                for _ in range(200):  # until the server has run the cancelled handler out
                    listed = await client.call_tool("list_jobs", {})
                    data = listed.structured_content
                    assert data is not None
                    if data["outcome_unknown_submits"]:
                        break
                    await anyio.sleep(0)
        [entry] = data["outcome_unknown_submits"]
        assert entry["prompt"] == "a shark"
        assert entry["error"] == "CancelledError"
        assert "cancelled" in entry["note"]
        assert "a job may have been created" in entry["note"]
        assert data["spend_counted"] == f"{MODE_PRICES[DEFAULT_MODE]:.2f}"  # still counted
        assert "do not resubmit" in "\n".join(c.text for c in listed.content if c.type == "text")

    run(body)
    said = [r.getMessage() for r in caplog.records if r.name == "sharkapi.mcp"]
    assert any("CancelledError" in line and "may have been created" in line for line in said), said
    assert TOKEN not in caplog.text


def test_the_ledger_reads_the_record_not_the_exception_type() -> None:
    ledger = Ledger(Decimal("1.00"))
    before_send = ledger.reserve(DEFAULT_MODE)
    ledger.submit_failed(before_send, asyncio.CancelledError(), DEFAULT_MODE, "a shark")
    assert ledger.cap.counted == 0  # cancelled before anything was sent: un-counted
    assert ledger.unknown == []
    assert ledger.jobs == {}

    on_the_wire = ledger.reserve(DEFAULT_MODE)
    cancelled = asyncio.CancelledError()
    record_interrupted_job(cancelled, None)  # what the core does when the submit was out
    ledger.submit_failed(on_the_wire, cancelled, DEFAULT_MODE, "a shark")
    assert ledger.cap.counted == MODE_PRICES[DEFAULT_MODE]
    [unknown] = ledger.unknown
    assert unknown.cancelled

    named = ledger.reserve(DEFAULT_MODE)
    interrupted = KeyboardInterrupt()
    record_interrupted_job(interrupted, "job_known")
    ledger.submit_failed(named, interrupted, DEFAULT_MODE, "another shark")
    assert ledger.jobs["job_known"].status == "unknown"
    assert ledger.cap.counted == 2 * MODE_PRICES[DEFAULT_MODE]
