"""Fixtures for the CLI tests: a fast sandbox, a runner, and an environment without tokens."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

FAST = SandboxConfig(queued_seconds=0.05, processing_seconds=0.1)

# The Ctrl-C tests send SIGINT to a `sharkapi` child. A test run started in the background
# of a non-interactive shell (`bash -c '... &'`) ignores SIGINT, its children inherit
# that, and Python then never raises KeyboardInterrupt: the tests would wait out their
# timeouts. A handler here (any handler: the child's becomes the default at exec) puts
# the children back to what a terminal gives them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
