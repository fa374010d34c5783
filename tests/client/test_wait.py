"""wait and generate: one GET per status, the right ending, one deadline, job ids kept."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from client_helpers import FLAVOURS, JOB_ID, Twin, accepted, error, job_body, make_twin, polled
from hypothesis import given, settings
from hypothesis import strategies as st

import sharkapi_ext as sdk
from sharkapi_ext import TERMINAL_STATUSES, Job, JobStatus

UNFINISHED = st.one_of(
    st.sampled_from(["queued", "processing"]),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12).filter(
        lambda s: s not in TERMINAL_STATUSES
    ),
)


@pytest.mark.parametrize("flavour", FLAVOURS)
@settings(deadline=None, max_examples=60)
@given(
    unfinished=st.lists(UNFINISHED, max_size=25),
    final=st.sampled_from(sorted(TERMINAL_STATUSES)),
    start=st.sampled_from(["id", "job"]),
)
def test_wait_one_get_per_status(
    flavour: str, unfinished: list[str], final: str, start: str
) -> None:
    twin = make_twin(flavour)
    sequence = [*unfinished, final]
    twin.script.add(*(polled(s) for s in sequence))
    updates: list[str] = []
    client = twin(poll_interval=2.0)
    job = JOB_ID if start == "id" else Job(JOB_ID, "queued", 0, "", None, {})  # type: ignore[arg-type]
    try:
        if final == "complete":
            done = client.wait(job, timeout=600, on_update=lambda s: updates.append(s.status))
            assert done.status == "complete"
            assert done.job_id == JOB_ID
        else:
            expected = sdk.JobFailedError if final == "failed" else sdk.JobModeratedError
            with pytest.raises(expected) as info:
                client.wait(job, timeout=600, on_update=lambda s: updates.append(s.status))
            assert info.value.job_id == JOB_ID
            assert info.value.status.status == final
            assert info.value.code == f"{final}_code"
    finally:
        client.close()
    assert twin.script.count("GET") == len(sequence)
    changes = [s for i, s in enumerate(sequence) if i == 0 or s != sequence[i - 1]]
    assert updates == changes
    # One interval between polls, plus one before the first poll of a fresh Job.
    assert twin.clock.slept == pytest.approx(2.0 * (len(sequence) - (start == "id")))


def test_wait_times_out_within_its_deadline(twin: Twin) -> None:
    twin.script.default = lambda _: polled("processing")
    start = twin.clock.now
    with pytest.raises(sdk.WaitTimeoutError) as info:
        twin(poll_interval=3.0).wait(JOB_ID, timeout=10.0)
    err = info.value
    assert err.job_id == JOB_ID
    assert err.last_status is not None
    assert err.last_status.status == "processing"
    assert JOB_ID in str(err)
    assert twin.clock.now - start <= 10.0 + 3.0
    assert twin.script.count("GET") == 4  # at 0, 3, 6, 9 s


def test_wait_timeout_with_no_answer_at_all(twin: Twin) -> None:
    twin.script.default = httpx.ConnectError
    start = twin.clock.now
    with pytest.raises(sdk.WaitTimeoutError) as info:
        twin(max_retries=0).wait(JOB_ID, timeout=30.0)
    assert info.value.last_status is None
    assert isinstance(info.value.__cause__, sdk.APIConnectionError)
    assert twin.clock.now - start <= 30.0


def test_wait_retries_transient_errors_until_done(twin: Twin) -> None:
    twin.script.add(
        polled("queued"),
        error(429, headers={"Retry-After": "5"}),
        error(503),
        httpx.ConnectError,
        httpx.ReadTimeout,
        httpx.Response(502, html="<h1>bad gateway</h1>"),
        polled("complete"),
    )
    # Inside wait, a failed poll is only "no news": max_retries does not end the wait.
    done = twin(max_retries=1).wait(JOB_ID, timeout=600.0)
    assert done.is_complete
    assert 5.0 in twin.clock.sleeps
    assert 30.0 in twin.clock.sleeps


def test_wait_retry_after_past_the_deadline_times_out(twin: Twin) -> None:
    twin.script.add(polled("queued"), error(503, headers={"Retry-After": "50"}))
    with pytest.raises(sdk.WaitTimeoutError) as info:
        twin().wait(JOB_ID, timeout=20.0)
    assert isinstance(info.value.__cause__, sdk.ServiceUnavailableError)
    assert info.value.last_status is not None
    assert twin.clock.slept <= 20.0


@pytest.mark.parametrize(
    ("status", "cls"), [(404, sdk.NotFoundError), (401, sdk.AuthenticationError)]
)
def test_wait_ends_on_fatal_errors(twin: Twin, status: int, cls: type) -> None:
    twin.script.add(polled("queued"), error(status))
    with pytest.raises(cls) as info:
        twin().wait(JOB_ID)
    assert info.value.job_id == JOB_ID
    assert twin.script.count("GET") == 2


def test_wait_accepts_job_status_and_skips_unchanged_update(twin: Twin) -> None:
    twin.script.add(polled("processing"))
    client = twin()
    current = client.get_job(JOB_ID)
    twin.script.add(polled("processing"), polled("complete"))
    updates: list[str] = []
    done = client.wait(current, on_update=lambda s: updates.append(s.status))
    assert done.is_complete
    assert updates == ["complete"]


@pytest.mark.parametrize("final", sorted(TERMINAL_STATUSES))
def test_terminal_status_needs_no_get(twin: Twin, final: str) -> None:
    twin.script.add(polled(final))
    client = twin()
    status = client.get_job(JOB_ID)
    if final == "complete":
        assert client.wait(status) is status
    else:
        with pytest.raises(sdk.JobError) as info:
            client.wait(status)
        assert info.value.status is status
    assert twin.script.count("GET") == 1


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "a b", "x" * 129, 42, None])
def test_wait_refuses_a_bad_job_id(twin: Twin, bad: object) -> None:
    with pytest.raises(sdk.InvalidRequestError) as info:
        twin().wait(bad)
    assert info.value.field == "job_id"
    assert twin.script.requests == []


@pytest.mark.parametrize(("name", "value"), [("timeout", 0), ("poll_interval", float("nan"))])
def test_wait_refuses_bad_options(twin: Twin, name: str, value: float) -> None:
    with pytest.raises(sdk.InvalidRequestError):
        twin().wait(JOB_ID, **{name: value})


def test_generate_returns_the_finished_job(twin: Twin) -> None:
    twin.script.add(accepted(), polled("processing"), polled("complete"))
    updates: list[JobStatus] = []
    done = twin().generate("a shark", mode="1k", on_update=updates.append)
    assert done.is_complete
    assert [u.status for u in updates] == ["processing", "complete"]
    assert twin.script.count("POST") == 1


@pytest.mark.parametrize(
    ("steps", "cls"),
    [
        # Factories: a Response must not be shared between the two twins' runs.
        ([lambda _: error(404)], sdk.NotFoundError),
        ([lambda _: polled("failed")], sdk.JobFailedError),
        ([lambda _: polled("moderated")], sdk.JobModeratedError),
        ([lambda _: httpx.Response(200, html="<p>proxy</p>")], sdk.UnexpectedResponseError),
    ],
)
def test_generate_errors_carry_the_job_id(twin: Twin, steps: list, cls: type) -> None:
    twin.script.add(accepted(), *steps)
    with pytest.raises(cls) as info:
        twin().generate("a shark", mode="1k")
    assert info.value.job_id == JOB_ID
    assert JOB_ID in str(info.value)


def test_generate_timeout_carries_the_job_id(twin: Twin) -> None:
    twin.script.add(accepted())
    twin.script.default = lambda _: polled("queued")
    with pytest.raises(sdk.WaitTimeoutError) as info:
        twin().generate("a shark", mode="1k", timeout=7.0)
    assert info.value.job_id == JOB_ID


def test_interrupt_in_on_update_names_the_job(twin: Twin) -> None:
    twin.script.add(accepted(), polled("processing"))

    def interrupt(status: JobStatus) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        twin().generate("a shark", mode="1k", on_update=interrupt)
    assert any(JOB_ID in note for note in info.value.__notes__)


def test_submit_with_malformed_answer_but_job_id(twin: Twin) -> None:
    body = job_body()
    del body["created_at"]
    twin.script.add(httpx.Response(202, json=body))
    with pytest.raises(sdk.UnexpectedResponseError) as info:
        twin().generate("a shark", mode="1k")
    assert info.value.job_id == JOB_ID


@pytest.mark.parametrize(
    ("answer_takes", "pauses"),
    [
        (0.0, [1.0, 1.0, 1.0]),  # an instant answer: a full interval between polls
        (0.3, [1.0, 0.7, 0.7]),  # the time an answer took counts: polls start 1 s apart
        (0.9, [1.0, 0.25, 0.25]),  # but never closer than a quarter interval
        (5.0, [1.0, 0.25, 0.25]),
    ],
)
def test_polls_start_one_interval_apart(
    twin: Twin, answer_takes: float, pauses: list[float]
) -> None:
    def slow(status: str) -> object:
        def answer(request: httpx.Request) -> httpx.Response:
            twin.clock.now += answer_takes  # the answer took that long to arrive
            return polled(status)

        return answer

    twin.script.add(slow("queued"), slow("processing"), slow("complete"))
    done = twin(poll_interval=1.0).wait(
        Job(JOB_ID, "queued", Decimal("0.01"), "", datetime.now(UTC), {}), timeout=60
    )
    assert done.status == "complete"
    assert twin.clock.sleeps == pytest.approx(pauses)
