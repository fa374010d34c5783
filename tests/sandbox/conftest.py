"""Fixtures for the sandbox tests: an in-process app on a fake clock, and real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sandbox_helpers import AUTH, FAST, TOKEN, FakeClock

from sharkapi_ext.sandbox import Sandbox, SandboxConfig, SandboxState, create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> SandboxState:
    """State with 1 s queued and 2 s processing, on the fake clock."""
    state = SandboxState(SandboxConfig(queued_seconds=1, processing_seconds=2, seed=1), clock=clock)
    state.add_token(TOKEN)
    return state


@pytest.fixture
async def api(state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the app in process, at http://127.0.0.1:8000."""
    transport = httpx.ASGITransport(app=create_app(state=state))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1:8000", headers=AUTH
    ) as client:
        yield client


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(FAST) as sandbox:
        yield sandbox


@pytest.fixture
def clocked_sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    """A real server (FAST timings) whose jobs age on the test's fake clock, not in real time.

    `Sandbox` builds its own `SandboxState`; its clock is swapped before the server starts
    (the state reads it for every status), so a test moves jobs on with ``clock.advance``.
    """
    sandbox = Sandbox(FAST)
    sandbox.state._clock = clock
    with sandbox:
        yield sandbox


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sandbox.base_url, headers={"Authorization": f"Bearer {sandbox.token}"}
    ) as client:
        yield client
