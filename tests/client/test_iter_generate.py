"""`AsyncSharkAPI.iter_generate`: streaming input and results, spend caps, interruptions."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from decimal import Decimal

import httpx
import pytest
from client_helpers import FakeClock, job_body, status_body

import sharkapi_ext as sdk
from sharkapi_ext import AsyncSharkAPI, JobStatus, SpendCapExceededError


class FastAPI:
    """A mock API: every job is complete at its first poll; submits may be made to hang."""

    def __init__(self, hang_submits_after: int | None = None) -> None:
        self.submits = 0
        self.hang_after = hang_submits_after
        self.release = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.submits += 1
            number = self.submits
            mode = json.loads(request.content)["mode"]
            if self.hang_after is not None and number > self.hang_after:
                await self.release.wait()  # the job exists; the answer never comes
            return httpx.Response(
                202, json=job_body(f"job_{number:06d}", estimated_cost=f"${sdk_price(mode)}")
            )
        job_id = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json=status_body("complete", job_id))


def sdk_price(mode: str) -> Decimal:
    from sharkapi_spec import MODE_PRICES

    return MODE_PRICES[mode]


def client(api: FastAPI, clock: FakeClock) -> AsyncSharkAPI:
    return AsyncSharkAPI(
        "sk_test_abcdefgh",
        base_url="https://api.example",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(api)),
        sleep=clock.asleep,
        clock=clock,
    )


def test_input_is_read_lazily_and_results_stream() -> None:
    pulled = 0

    def prompts():  # an endless generator: only a lazy reader can finish
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield f"shark {i}"

    async def main() -> list[sdk.GenerateResult]:
        got = []
        async with client(FastAPI(), FakeClock()) as api:
            async with contextlib.aclosing(api.iter_generate(prompts(), concurrency=4)) as it:
                async for result in it:
                    got.append(result)
                    if len(got) == 50:
                        break
        return got

    got = asyncio.run(main())
    assert all(isinstance(r.result, JobStatus) for r in got)
    assert pulled <= 50 + 2 * 4  # read at most about `concurrency` ahead of the results


def test_generate_many_keeps_order_and_bad_items_are_results() -> None:
    async def main() -> list[JobStatus | BaseException]:
        async with client(FastAPI(), FakeClock()) as api:
            return await api.generate_many(["a", 42, {"prompt": "b"}, ""], concurrency=3)  # type: ignore[list-item]

    results = asyncio.run(main())
    assert isinstance(results[0], JobStatus)
    assert isinstance(results[1], sdk.InvalidRequestError)
    assert isinstance(results[2], JobStatus)
    assert isinstance(results[3], sdk.InvalidRequestError)


def test_max_cost_is_never_passed_and_names_the_cap() -> None:
    api = FastAPI()

    async def main() -> list[JobStatus | BaseException]:
        async with client(api, FakeClock()) as sharkapi:
            return await sharkapi.generate_many(
                [{"prompt": f"p{i}", "mode": "2k"} for i in range(10)],
                concurrency=4,
                max_cost=Decimal("0.05"),
            )

    results = asyncio.run(main())
    done = [r for r in results if isinstance(r, JobStatus)]
    refused = [r for r in results if isinstance(r, SpendCapExceededError)]
    price = sdk_price("2k")
    assert len(done) == int(Decimal("0.05") // price)
    assert api.submits == len(done)  # nothing past the cap was sent
    assert len(refused) == 10 - len(done)
    assert all(r.cap == Decimal("0.05") and "$0.05" in str(r) for r in refused)


def test_a_refused_submit_is_uncounted() -> None:
    cap = sdk.SpendCap(Decimal("0.02"))

    async def main() -> list[sdk.GenerateResult]:
        async with client(FastAPI(), FakeClock()) as api:
            # A bad prompt is refused before sending: it must not use up the cap.
            items = ["", "", "", "ok 1", "ok 2"]
            return [r async for r in api.iter_generate(items, concurrency=1, spend_cap=cap)]

    results = asyncio.run(main())
    assert sum(isinstance(r.result, JobStatus) for r in results) == 2
    assert cap.counted == 2 * sdk_price("1k")


def test_cancelling_a_run_names_every_job_that_may_exist() -> None:
    api = FastAPI(hang_submits_after=3)

    async def main() -> BaseException:
        async with client(api, FakeClock()) as sharkapi:
            run = asyncio.ensure_future(
                sharkapi.generate_many([f"p{i}" for i in range(8)], concurrency=6)
            )
            while api.submits < 6:
                await asyncio.sleep(0)
            run.cancel()
            try:
                await run
            except asyncio.CancelledError as exc:
                return exc
            raise AssertionError("not cancelled")

    exc = asyncio.run(main())
    jobs = exc.sharkapi_jobs  # type: ignore[attr-defined]
    # Six jobs were created: three submits hang on the wire, three were answered. Each
    # is named (when its id was read) or flagged "may exist": none is dropped.
    assert len(jobs) == api.submits >= 6
    on_the_wire = [outcome for _, outcome in jobs if outcome.job_id is None]
    assert len(on_the_wire) >= 3
    assert all(outcome.may_exist for _, outcome in jobs)
    assert any("may exist" in note for note in exc.__notes__)


@pytest.mark.parametrize("bad", ["a prompt", b"x", {"prompt": "x"}, 3])
def test_requests_must_be_an_iterable_of_items(bad: object) -> None:
    async def main() -> None:
        async with client(FastAPI(), FakeClock()) as api:
            with pytest.raises(sdk.InvalidRequestError, match="requests"):
                async for _ in api.iter_generate(bad):  # type: ignore[arg-type]
                    pass

    asyncio.run(main())
