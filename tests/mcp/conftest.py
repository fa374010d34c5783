"""Fixtures for the MCP server tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own SHARKAPI_* settings must not leak into the tests.
    monkeypatch.delenv("SHARKAPI_TOKEN", raising=False)
    monkeypatch.delenv("SHARKAPI_BASE_URL", raising=False)
