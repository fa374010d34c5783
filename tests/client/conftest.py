"""Fixtures for the client tests: every scenario runs against both twins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from client_helpers import FLAVOURS, FakeClock, Script, Twin


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHARKAPI_TOKEN", raising=False)
    monkeypatch.delenv("SHARKAPI_BASE_URL", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture(params=FLAVOURS)
def twin(request: pytest.FixtureRequest, script: Script, clock: FakeClock) -> Iterator[Twin]:
    """Makes clients of one flavour; the test runs once per flavour (and async transport)."""
    made = Twin(request.param != "sync", script, clock, aiohttp=request.param == "async-aiohttp")
    yield made
    for driver in made.drivers:
        driver.close()
