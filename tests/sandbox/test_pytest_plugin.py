"""The pytest plugin's fixtures: a sandbox, and sync and async clients tuned to its clock."""

from __future__ import annotations

import pytest

from sharkapi_ext import AsyncSharkAPI, SharkAPI
from sharkapi_ext.pytest_plugin import FIXTURE_POLL_INTERVAL
from sharkapi_ext.sandbox import Sandbox


def _polls(sandbox: Sandbox, job_id: str) -> int:
    return sum(1 for r in sandbox.requests() if r.path == f"/v1/jobs/{job_id}")


def test_client_fixture_generates_on_the_sandbox(
    sharkapi_client: SharkAPI, sharkapi_sandbox: Sandbox
) -> None:
    done = sharkapi_client.generate("a shark", mode="1k")
    assert done.status == "complete"
    # Tuned to the sandbox's 0.15 s jobs: several polls per job, not one every 2 s.
    assert _polls(sharkapi_sandbox, done.job_id) >= 3
    assert [s.job_id for s in sharkapi_sandbox.submissions()] == [done.job_id]


@pytest.mark.anyio
async def test_async_client_fixture_generates_on_the_sandbox(
    sharkapi_async_client: AsyncSharkAPI, sharkapi_sandbox: Sandbox
) -> None:
    results = await sharkapi_async_client.generate_many(["one", "two"], mode="1k")
    assert [getattr(r, "status", r) for r in results] == ["complete", "complete"]
    for result in results:
        assert _polls(sharkapi_sandbox, getattr(result, "job_id", "")) >= 3


def test_poll_interval_is_a_small_part_of_a_sandbox_job(sharkapi_sandbox: Sandbox) -> None:
    config = sharkapi_sandbox.config
    assert config.queued_seconds + config.processing_seconds >= FIXTURE_POLL_INTERVAL * 5
