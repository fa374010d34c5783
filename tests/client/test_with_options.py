"""`with_options`: a cheap per-call copy of a client that shares its pool and pacing."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from client_helpers import status_body

import sharkapi_ext as sdk
from sharkapi_ext import AsyncSharkAPI, SharkAPI


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=status_body("queued", "job_abc123"))


def test_copy_has_its_options_and_shares_the_pool_and_gate() -> None:
    http = httpx.Client(transport=httpx.MockTransport(answer))
    base = SharkAPI("sk_test_abcdefgh", base_url="https://api.example", http_client=http)
    fast = base.with_options(timeout=2.5, max_retries=0, poll_interval=0.5)
    assert (fast.timeout, fast.retry_policy.max_retries, fast.poll_interval) == (2.5, 0, 0.5)
    assert (base.timeout, base.retry_policy.max_retries) == (30.0, 2)  # unchanged
    assert fast._http is base._http
    assert fast._pacer is base._pacer  # one gate for the account's requests
    status = fast.get_job("job_abc123")
    assert status.request_id is None or isinstance(status.request_id, str)
    fast.close()  # closes nothing of the original's
    assert base.get_job("job_abc123").status == "queued"
    with pytest.raises(sdk.ClientClosedError):
        fast.get_job("job_abc123")


def test_closing_the_original_closes_the_copies() -> None:
    base = SharkAPI("sk_test_abcdefgh", base_url="https://api.example")
    copy = base.with_options(timeout=1)
    base.close()
    with pytest.raises(sdk.ClientClosedError):
        copy.get_job("job_abc123")


def test_the_copy_sends_its_timeout() -> None:
    seen: list[dict[str, float]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return answer(request)

    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncSharkAPI(
            "sk_test_abcdefgh", base_url="https://api.example", http_client=http
        ) as api:
            await api.with_options(timeout=1.5).get_job("job_abc123")
            await api.get_job("job_abc123")
        await http.aclose()

    asyncio.run(main())
    assert seen[0]["connect"] <= 1.5 < seen[1]["connect"]


@pytest.mark.parametrize(
    ("option", "value"), [("timeout", 0), ("max_retries", -1), ("max_retries", 1.5)]
)
def test_bad_options_are_named(option: str, value: object) -> None:
    client = SharkAPI("sk_test_abcdefgh")
    with pytest.raises(sdk.InvalidRequestError, match=option):
        client.with_options(**{option: value})  # type: ignore[arg-type]
