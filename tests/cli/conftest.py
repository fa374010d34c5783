"""Fixtures for the CLI tests: a fast sandbox, a runner, and an environment without tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

FAST = SandboxConfig(queued_seconds=0.05, processing_seconds=0.1)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own SHARKAPI_* settings must not leak into the tests.
    monkeypatch.delenv("SHARKAPI_TOKEN", raising=False)
    monkeypatch.delenv("SHARKAPI_BASE_URL", raising=False)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(FAST) as sandbox:
        yield sandbox


@pytest.fixture
def api_args(sandbox: Sandbox) -> list[str]:
    """Global options that point the CLI at the fast sandbox and poll quickly."""
    return ["--base-url", sandbox.base_url, "--token", sandbox.token, "--poll-interval", "0.02"]
