"""The pacing gate (`_pacing.Pacer`), driven by a fake clock, and its place in the flows."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import math
from collections import deque
from collections.abc import Awaitable

import httpx
import pytest
from client_helpers import Twin, accepted, error, job_body, polled, status_body

import sharkapi_ext as sdk
from sharkapi_ext._pacing import _RECOVERY_SECONDS, BETA, Pacer, Window


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sends_in(pacer: Pacer, clock: Clock, seconds: float, submit: bool = True) -> int:
    """How many requests the gate lets out in `seconds` when asked as often as it says."""
    end = clock.now + seconds
    sent = 0
    while clock.now < end:
        delay = pacer.delay(submit)
        if delay == 0.0:
            sent += 1
        else:
            clock.now += delay
    return sent


def test_open_until_the_first_throttle_and_it_costs_nothing() -> None:
    clock = Clock()
    pacer = Pacer(None, clock)
    for _ in range(1000):
        pacer.accepted()
        assert pacer.delay(True) == 0.0
    assert not pacer.active
    assert pacer.rate == math.inf


def test_a_known_limit_spreads_requests() -> None:
    clock = Clock()
    pacer = Pacer(10.0, clock)
    assert pacer.active
    sent = sends_in(pacer, clock, 5.0)
    assert 49 <= sent <= 51  # 10 a second, one token of burst


def test_no_sliding_second_gets_more_than_the_rate() -> None:
    # An API that counts requests over a sliding second (as the sandbox does) refuses
    # whatever the bucket's burst adds: with a tenth of a second of burst (1.5 tokens at
    # 15 a second), a second after an idle moment held 16 requests.
    clock = Clock()
    pacer = Pacer(15.0, clock)
    clock.now += 0.5  # idle: the bucket fills
    sent: list[float] = []
    end = clock.now + 3.0
    while clock.now < end:
        delay = pacer.delay(True)
        if delay == 0.0:
            sent.append(clock.now)
        else:
            clock.now += delay
    busiest = max(sum(1 for t in sent if at - 1.0 + 1e-6 < t <= at) for at in sent)
    assert busiest == 15


def test_retry_after_pauses_every_request() -> None:
    clock = Clock()
    pacer = Pacer(None, clock)
    pacer.throttled(2.0)
    assert pacer.delay(True) == pytest.approx(2.0)
    assert pacer.delay(False) == pytest.approx(2.0)
    clock.now += 2.0
    assert pacer.delay(True) == 0.0  # no rate known yet: the pause alone


def test_the_rate_falls_to_beta_of_what_was_accepted_then_climbs_back() -> None:
    clock = Clock()
    pacer = Pacer(None, clock)
    for _ in range(20):  # 20 accepted over the last second
        clock.now += 0.05
        pacer.accepted()
    pacer.throttled(None)
    assert pacer.rate == pytest.approx(20 * BETA)
    clock.now += _RECOVERY_SECONDS  # the CUBIC curve is back at the estimate...
    assert pacer.rate == pytest.approx(20.0)
    clock.now += _RECOVERY_SECONDS / 3  # ...stays near it for a while...
    assert pacer.rate < 20.5
    clock.now += _RECOVERY_SECONDS  # ...then probes above it.
    assert pacer.rate > 25.0
    # A new throttle cuts again from what the API accepted, not from the probe.
    for _ in range(18):
        clock.now += 1 / 18
        pacer.accepted()
    pacer.throttled(None)
    assert pacer.rate == pytest.approx(18 * BETA, rel=0.1)
    assert pacer.throttles == 2


def test_answers_of_one_burst_are_one_event_and_raise_the_estimate() -> None:
    clock = Clock()
    pacer = Pacer(None, clock)
    pacer.throttled(1.0)  # the first 429 of a burst comes before its 202s
    assert pacer.rate == math.inf
    for _ in range(15):
        clock.now += 0.01
        pacer.accepted()
    pacer.throttled(1.0)
    assert pacer.throttles == 1
    # 15 accepted in the second: the cut is from 15 (the curve has begun to climb back).
    assert pacer.rate == pytest.approx(15 * BETA, rel=0.1)


def test_a_waiting_submit_goes_before_polls() -> None:
    clock = Clock()
    pacer = Pacer(10.0, clock)
    clock.now += 1.0  # a token is ready
    pacer.waiting(True, 1)
    assert pacer.delay(False) > 0.0  # the poll yields it
    assert pacer.delay(True) == 0.0  # the submit takes it
    pacer.waiting(True, -1)
    clock.now += 1.0
    assert pacer.delay(False) == 0.0


def test_no_learning_when_pacing_is_off() -> None:
    clock = Clock()
    pacer = Pacer(None, clock, adaptive=False)
    pacer.throttled(5.0)
    assert not pacer.active
    assert pacer.delay(True) == 0.0


def test_generate_waits_out_429s_past_max_retries(twin: Twin) -> None:
    twin.script.add(*[error(429, headers={"Retry-After": "1"})] * 5, accepted(), polled("complete"))
    done = twin(max_retries=0).generate("a shark", mode="1k", timeout=60)
    assert done.status == "complete"
    assert twin.script.count("POST") == 6
    # Each Retry-After was honoured: five pauses of a second before the submit went.
    assert sum(twin.clock.sleeps) >= 5.0


def test_a_single_submit_keeps_max_retries(twin: Twin) -> None:
    twin.script.add(*[error(429, headers={"Retry-After": "1"})] * 3)
    with pytest.raises(sdk.RateLimitError):
        twin(max_retries=1).submit("a shark", mode="1k")
    assert twin.script.count("POST") == 2


def test_generate_ends_at_its_deadline_under_429s(twin: Twin) -> None:
    twin.script.default = lambda _: error(429, headers={"Retry-After": "2"})
    with pytest.raises(sdk.SharkAPIError) as info:
        twin(max_retries=0).generate("a shark", mode="1k", timeout=7)
    assert not info.value.job_may_exist  # nothing was created: retrying is safe
    assert twin.clock.slept <= 7.0 + 1e-6


def test_a_429_slows_the_other_requests_of_the_client(twin: Twin) -> None:
    twin.script.add(error(429, headers={"Retry-After": "3"}), polled(), polled())
    client = twin(max_retries=0)
    with pytest.raises(sdk.RateLimitError):
        client.get_job("job_abc123")
    before = twin.clock.now
    client.get_job("job_abc123")  # another request waits out the pause first
    assert twin.clock.now - before == pytest.approx(3.0)


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "10", True])
def test_rate_limit_is_checked(bad: object) -> None:
    with pytest.raises(sdk.InvalidRequestError, match="rate_limit"):
        sdk.SharkAPI("sk_test_abcdefgh", rate_limit=bad)  # type: ignore[arg-type]


# -- the async client's window: a slow start in rounds ----------------------------------------


def test_a_round_holds_its_places_until_all_of_it_is_answered() -> None:
    window = Window(4, 100)
    # Three of the first round's four answers free nothing: the fourth may be a 429.
    assert [window.answered(True, False) for _ in range(3)] == [0, 0, 0]
    assert window.answered(True, False) == 8  # all accepted: the window doubles
    assert window.size == 8


def test_a_throttle_in_a_round_ends_the_slow_start_without_growth() -> None:
    window = Window(4, 100)
    assert [window.answered(True, False) for _ in range(3)] == [0, 0, 0]
    assert window.answered(False, True) == 4  # the round's places, no more
    assert window.size == 4
    # From now on each answer frees its own place, and an accepted one adds one more.
    assert window.answered(True, False) == 2
    assert window.answered(False, True) == 1
    assert window.answered(False, False) == 1  # a transport error: no growth
    assert window.size == 5


def test_the_slow_start_ends_at_the_maximum() -> None:
    window = Window(16, 100)
    rounds = 0
    while window.answered(True, False) == 0 or window.size < 100:
        rounds += 1
        assert rounds < 1000
    assert window.size == 100  # 16, 32, 64, 100: three rounds
    assert window.answered(True, False) == 1  # full: each answer frees its own place


def test_a_slow_round_ends_the_slow_start_when_its_time_is_up() -> None:
    window = Window(4, 100)
    assert window.wants_timer()  # a request waits: the round's timer starts...
    assert not window.wants_timer()  # ...once
    assert [window.answered(True, False) for _ in range(3)] == [0, 0, 0]
    assert window.expire(window.round) == 3  # the fourth is stuck: free what is held
    assert window.answered(True, False) == 2  # the slow start is over
    assert not window.wants_timer()
    assert window.expire(window.round) == 0


def test_a_timer_of_a_round_that_ended_frees_nothing() -> None:
    window = Window(2, 100)
    assert window.wants_timer()
    stale = window.round
    assert window.answered(True, False) == 0
    assert window.answered(True, False) == 4
    assert window.expire(stale) == 0
    assert window.wants_timer()  # the new round has a timer of its own


class VirtualTime:
    """A clock and an asyncio sleep in virtual time: it moves when every task waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    def run(self, main: Awaitable[object]) -> object:
        async def drive() -> object:
            task = asyncio.ensure_future(main)
            while not task.done():
                for _ in range(50):  # let every runnable task go as far as it can
                    await asyncio.sleep(0)
                if task.done() or not self._sleepers:
                    continue
                self.now = max(self.now, self._sleepers[0][0])
                while self._sleepers and self._sleepers[0][0] <= self.now:
                    future = heapq.heappop(self._sleepers)[2]
                    if not future.done():
                        future.set_result(None)
            return task.result()

        return asyncio.run(drive())


class LimitedAPI:
    """An API that takes `limit` requests a second (a sliding second, as the sandbox's).

    An accepted request is answered after `latency`; one over the limit after twice that,
    so that, as measured against the sandbox, a round's 429 comes back after its 202s.
    """

    def __init__(self, time: VirtualTime, limit: int = 15, latency: float = 0.02) -> None:
        self.time = time
        self.limit = limit
        self.latency = latency
        self.stamps: deque[float] = deque()
        self.log: list[tuple[float, str, int]] = []
        self.jobs = itertools.count()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.time.now
        while self.stamps and self.stamps[0] <= now - 1.0:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit:
            self.log.append((now, request.method, 429))
            await self.time.sleep(2 * self.latency)
            return error(429, "rate_limited", headers={"Retry-After": "1"})
        self.stamps.append(now)
        self.log.append((now, request.method, 200))
        await self.time.sleep(self.latency)
        if request.method == "POST":
            json.loads(request.content)
            return httpx.Response(202, json=job_body(f"job_{next(self.jobs)}"))
        job_id = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=status_body("complete", job_id))


def run_many(
    jobs: int, concurrency: int, api: LimitedAPI | None = None
) -> tuple[list[object], LimitedAPI, float]:
    time = api.time if api is not None else VirtualTime()
    api = api if api is not None else LimitedAPI(time)

    async def main() -> list[object]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(api))
        client = sdk.AsyncSharkAPI(
            "sk_test_abcdefgh",
            base_url="https://api.example",
            http_client=http,
            poll_interval=0.25,
            clock=time,
            sleep=time.sleep,
        )
        async with client:
            results = await client.generate_many(
                [f"shark {i}" for i in range(jobs)], concurrency=concurrency, timeout=300
            )
        await http.aclose()
        return list(results)

    results = time.run(main())
    assert isinstance(results, list)
    return results, api, time.now


def test_a_first_burst_at_a_rate_limit_meets_one_429() -> None:
    # Before the rounds, each of the first round's 202s let two more requests out while
    # its 429 was on its way back: 31 of the first 46 requests were refused.
    results, api, _ = run_many(60, 128)
    first_second = [status for when, _, status in api.log if when < 1.0]
    assert first_second.count(429) == 1
    assert all(isinstance(result, sdk.JobStatus) for result in results)


def test_requests_queued_before_the_first_429_go_out_at_the_learned_rate() -> None:
    # They passed the pacing gate while it was still open; before, they all went out at
    # once when the Retry-After pause ended, and the second second met 16 429s (and
    # while they held the window's places waiting for their turn, requests that had
    # taken a turn long before went out beside them: a 429 in the third second).
    results, api, wall = run_many(60, 128)
    assert [status for when, _, status in api.log if 1.0 <= when < 3.0].count(429) == 0
    throttled = sum(1 for _, _, status in api.log if status == 429)
    assert throttled / len(api.log) < 0.05
    assert all(isinstance(result, sdk.JobStatus) for result in results)
    ideal = 60 * 2 / api.limit
    assert wall < 1.6 * ideal


class StuckAPI(LimitedAPI):
    """No limit; the first request takes 30 s to answer."""

    def __init__(self, time: VirtualTime) -> None:
        super().__init__(time, limit=10**9)
        self.first = True

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.first:
            self.first = False
            await self.time.sleep(30.0)
        return await super().__call__(request)


def test_a_stuck_request_of_a_round_does_not_stall_the_client() -> None:
    # A round's places are held until all of it is answered, but a request waits for
    # that at most Window.ROUND_SECONDS: the other jobs finish long before the stuck one.
    time = VirtualTime()
    api = StuckAPI(time)
    run_many(40, 40, api)
    finished = [when for when, method, _ in api.log if method == "GET"]
    assert len(finished) >= 39
    assert sorted(finished)[38] < 3.0  # 39 of 40 done within seconds, not 30
