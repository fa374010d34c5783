"""The twins' drivers: how they walk a flow (`_flow.Steps`), and read a body (`_body`).

Both twins run the same flows through drivers that hold only I/O lines; these pin what
the drivers must keep doing for every flow: a value a flow returns after handling a
failure comes back to the caller, what the flow raises then has the failure as its
context (the interrupt records follow ``__context__``), and a body the transport had
already read is taken as httpx decoded it, except by a download, which refuses an
encoding it cannot undo.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_helpers import JOB_ID, PNG, TOKEN, Twin, polled

import sharkapi_ext as sdk
from sharkapi_ext._flow import Sleep


class Boom(Exception):
    """What the injected sleep raises."""


def _raise_boom(seconds: float) -> None:
    raise Boom(f"slept {seconds}")


async def _araise_boom(seconds: float) -> None:
    raise Boom(f"slept {seconds}")


def _run(twin: str, flow: Generator[Any, Any, Any]) -> Any:
    """Run `flow` through the driver of the `twin` client, whose sleep raises `Boom`."""
    if twin == "sync":
        with sdk.SharkAPI(TOKEN, sleep=_raise_boom) as client:
            return client._run(flow)

    async def run() -> Any:
        async with sdk.AsyncSharkAPI(TOKEN, sleep=_araise_boom) as client:
            return await client._run(flow)

    return asyncio.run(run())


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_a_flow_that_handles_a_failure_and_returns_gives_its_value(twin: str) -> None:
    def flow() -> Generator[Any, Any, str]:
        try:
            yield Sleep(1.0)
        except Boom as exc:
            return f"recovered: {exc}"
        return "the sleep did not fail"

    assert _run(twin, flow()) == "recovered: slept 1.0"


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_a_flow_that_handles_a_failure_and_goes_on_gets_its_next_result(twin: str) -> None:
    def flow() -> Generator[Any, Any, list[str]]:
        seen = []
        for seconds in (1.0, 2.0):
            try:
                yield Sleep(seconds)
            except Boom as exc:
                seen.append(str(exc))
        return seen

    assert _run(twin, flow()) == ["slept 1.0", "slept 2.0"]


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_what_a_flow_raises_on_a_failure_has_that_failure_as_its_context(twin: str) -> None:
    handled = []

    def flow() -> Generator[Any, Any, None]:
        try:
            yield Sleep(1.0)
        except Boom as exc:
            handled.append(exc)
        # Raised outside the flow's own except block: its context is the driver's.
        raise KeyError("after the failure")

    with pytest.raises(KeyError) as caught:
        _run(twin, flow())
    assert caught.value.__context__ is handled[0]


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_the_flow_is_closed_when_it_raises(twin: str) -> None:
    closed = []

    def flow() -> Generator[Any, Any, None]:
        try:
            yield Sleep(1.0)
        finally:
            closed.append(True)

    with pytest.raises(Boom):
        _run(twin, flow())
    assert closed == [True]


def test_an_answer_the_transport_had_read_is_taken_as_httpx_decoded_it(twin: Twin) -> None:
    # httpx leaves an encoding it does not know as it is, and so does the client.
    answer = polled("queued")
    answer.headers["Content-Encoding"] = "x-unknown"
    twin.script.add(answer)
    assert twin().get_job(JOB_ID).status == "queued"


def test_a_compressed_answer_the_transport_had_read_is_not_decoded_twice(twin: Twin) -> None:
    body = polled("running").content
    twin.script.add(
        httpx.Response(200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    )
    assert twin().get_job(JOB_ID).status == "running"


def test_a_download_the_transport_had_read_refuses_an_unknown_encoding(
    twin: Twin, tmp_path: Path
) -> None:
    twin.script.add(httpx.Response(200, content=PNG, headers={"Content-Encoding": "x-unknown"}))
    with pytest.raises(sdk.DownloadError, match="unsupported Content-Encoding 'x-unknown'"):
        twin().download("https://cdn.example.net/a.png", tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []
