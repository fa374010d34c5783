"""`_deadline.Deadlines`: asyncio.timeout's rules, on one loop timer for every request."""

from __future__ import annotations

import asyncio
import random

import pytest

from sharkapi_ext._deadline import Deadlines


async def _bounded(deadlines: Deadlines, seconds: float, work: float) -> str:
    """`work` seconds of waiting under a `seconds` deadline, as `_perform` uses it."""
    watch = deadlines.watch(seconds)
    try:
        await asyncio.sleep(work)
        return "done"
    except asyncio.CancelledError:
        if watch.timed_out():
            return "timed out"
        raise
    finally:
        deadlines.finish(watch)


@pytest.mark.timeout(10)
def test_each_request_ends_by_its_own_deadline() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        start = loop.time()
        # Deadlines armed in no particular order: the later ones must not delay the earlier.
        plan = [(0.30, 1.0), (0.05, 1.0), (0.20, 0.01), (0.10, 1.0), (1.0, 0.02)]
        results = await asyncio.gather(*(_bounded(deadlines, s, w) for s, w in plan))
        assert results == ["timed out", "timed out", "done", "timed out", "done"]
        assert loop.time() - start < 0.6  # the 0.30 s one, not a second's work

    asyncio.run(main())


@pytest.mark.timeout(10)
def test_a_cancellation_from_outside_is_not_a_timeout() -> None:
    async def main() -> None:
        deadlines = Deadlines(asyncio.get_running_loop())
        task = asyncio.create_task(_bounded(deadlines, 5.0, 5.0))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@pytest.mark.timeout(10)
def test_an_outside_cancellation_at_the_deadline_still_propagates() -> None:
    """Both at once: the caller's cancellation wins, as with asyncio.timeout."""

    async def main() -> None:
        deadlines = Deadlines(asyncio.get_running_loop())
        task = asyncio.create_task(_bounded(deadlines, 0.05, 5.0))
        await asyncio.sleep(0.049)
        while not task.done():
            task.cancel()
            await asyncio.sleep(0.001)
        assert task.cancelled()

    asyncio.run(main())


@pytest.mark.timeout(20)
def test_many_requests_leave_no_entries_behind() -> None:
    async def main() -> None:
        deadlines = Deadlines(asyncio.get_running_loop())
        rng = random.Random(7)
        # 500 at once: enough to exercise the heap, few enough that the loop never lags by the
        # margins below (a task woken just as its deadline passes is timed out: asyncio.timeout
        # has the same race).
        plan = [(rng.uniform(0.02, 0.3), rng.uniform(0.0, 0.2)) for _ in range(500)]
        results = await asyncio.gather(*(_bounded(deadlines, s, w) for s, w in plan))
        for (seconds, work), result in zip(plan, results, strict=True):
            if work < seconds - 0.1:
                assert result == "done"
            if work > seconds + 0.1:
                assert result == "timed out"
        # Ended requests are swept, not kept for their whole deadline.
        assert len(deadlines._heap) <= 64
        assert deadlines._live == 0

    asyncio.run(main())
