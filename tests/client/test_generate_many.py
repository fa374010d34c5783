"""AsyncSharkAPI.generate_many: order, isolation of failures, and the concurrency bound."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from client_helpers import FakeClock, error, job_body, status_body

import sharkapi_ext as sdk
from sharkapi_ext import AsyncSharkAPI


class Farm:
    """An async transport where prompt "p<i>" becomes job "job_<i>"; counts what is in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.open_jobs: set[str] = set()
        self.max_open_jobs = 0
        self.polls: dict[str, int] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(3):  # hold the request open while others run
                await asyncio.sleep(0)
            return self.answer(request)
        finally:
            self.in_flight -= 1

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            prompt = json.loads(request.content)["prompt"]
            if prompt == "p-quota":
                return error(402, "insufficient_balance")
            job_id = "job_" + prompt[1:]
            self.open_jobs.add(job_id)
            self.max_open_jobs = max(self.max_open_jobs, len(self.open_jobs))
            return httpx.Response(202, json=job_body(job_id))
        job_id = request.url.path.rsplit("/", 1)[1]
        self.polls[job_id] = self.polls.get(job_id, 0) + 1
        if job_id == "job_gone":
            self.open_jobs.discard(job_id)
            return error(404, "not_found")
        if self.polls[job_id] < 3:
            return httpx.Response(200, json=status_body("processing", job_id))
        self.open_jobs.discard(job_id)
        final = "failed" if job_id == "job_bad" else "complete"
        return httpx.Response(200, json=status_body(final, job_id))


def run_many(requests: list, concurrency: int = 3, **kwargs: object) -> tuple[list, Farm]:
    farm = Farm()
    clock = FakeClock()

    async def main() -> list:
        http = httpx.AsyncClient(transport=httpx.MockTransport(farm))
        async with AsyncSharkAPI(
            "sk_test", http_client=http, clock=clock, sleep=clock.asleep
        ) as client:
            result = await client.generate_many(requests, concurrency=concurrency, **kwargs)
        await http.aclose()
        return result

    return asyncio.run(main()), farm


def test_results_in_order_and_failures_isolated() -> None:
    requests = [f"p{i}" for i in range(10)]
    requests[2] = "pbad"
    requests[5] = {"prompt": "pgone", "mode": "2k"}
    requests[7] = "p-quota"
    updates: list[str] = []
    results, _ = run_many(requests, on_update=lambda s: updates.append(s.job_id))
    assert len(results) == 10
    for i, result in enumerate(results):
        if i == 2:
            assert isinstance(result, sdk.JobFailedError)
            assert result.job_id == "job_bad"
        elif i == 5:
            assert isinstance(result, sdk.NotFoundError)
            assert result.job_id == "job_gone"
        elif i == 7:
            assert isinstance(result, sdk.InsufficientBalanceError)
        else:
            assert isinstance(result, sdk.JobStatus)
            assert result.job_id == f"job_{i}"
            assert result.is_complete
    assert set(updates) >= {"job_0", "job_bad"}


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_concurrency_is_respected(concurrency: int) -> None:
    results, farm = run_many([f"p{i}" for i in range(12)], concurrency=concurrency)
    assert all(isinstance(r, sdk.JobStatus) for r in results)
    assert farm.max_in_flight <= concurrency
    assert farm.max_open_jobs <= concurrency
    assert farm.max_open_jobs == concurrency  # and it is really used


def test_bad_items_are_returned_not_raised() -> None:
    results, _ = run_many(["p1", 42, {"prompt": "p2", "image_strength": 0.5}, {"nope": 1}])
    assert isinstance(results[0], sdk.JobStatus)
    assert isinstance(results[1], sdk.InvalidRequestError)
    assert isinstance(results[2], sdk.InvalidRequestError)
    assert isinstance(results[3], sdk.InvalidRequestError)
    assert "prompt" in str(results[3])


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5])
def test_bad_concurrency(concurrency: object) -> None:
    with pytest.raises(sdk.InvalidRequestError):
        run_many(["p1"], concurrency=concurrency)  # type: ignore[arg-type]
