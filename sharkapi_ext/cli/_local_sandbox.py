"""``--sandbox``: a local sandbox started in this process, with demo timings.

The sandbox package (the `sandbox` extra) is imported only when the sandbox starts, so
that no other command pays for it.
"""

from __future__ import annotations

from typing import Any

import click

__all__ = [
    "SANDBOX_POLL_INTERVAL",
    "SANDBOX_PROCESSING_SECONDS",
    "SANDBOX_QUEUED_SECONDS",
    "start_sandbox",
]

#: Demo timings of `--sandbox`: slow enough to watch the status change, fast enough to wait for.
SANDBOX_QUEUED_SECONDS = 0.5
SANDBOX_PROCESSING_SECONDS = 1.5
#: Polling the local sandbox every 2 s (the real API's rate) would only add waiting.
SANDBOX_POLL_INTERVAL = 0.25


def start_sandbox() -> Any:
    """A not yet started sandbox with the demo timings (a context manager that runs it).

    Returns:
        The `sharkapi_ext.sandbox.Sandbox`.

    Raises:
        click.UsageError: The sandbox extra is not installed.
    """
    try:
        from sharkapi_ext.sandbox import Sandbox, SandboxConfig
    except ImportError as exc:  # pragma: no cover - only without the sandbox extra
        raise click.UsageError(
            f"--sandbox needs the sandbox extra: pip install 'sharkapi[sandbox]' ({exc})"
        ) from exc
    return Sandbox(
        SandboxConfig(
            queued_seconds=SANDBOX_QUEUED_SECONDS, processing_seconds=SANDBOX_PROCESSING_SECONDS
        )
    )
