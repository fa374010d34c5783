"""The pacing gate (`_pacing.Pacer`), driven by a fake clock, and its place in the flows."""

from __future__ import annotations

import math

import pytest
from client_helpers import Twin, accepted, error, polled

import sharkapi_ext as sdk
from sharkapi_ext._pacing import _RECOVERY_SECONDS, BETA, Pacer


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
