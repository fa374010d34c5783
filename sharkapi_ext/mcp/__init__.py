"""`sharkapi mcp`: a Model Context Protocol server for AI assistants (the `mcp` extra).

Four task-level tools, not one per endpoint:

* ``generate_image(prompt, mode?, image_path?, image_strength?)``: submit, wait (bounded),
  download; returns the saved path, the job id, the cost and a small preview image.
  Past ``max_wait_seconds`` it returns ``pending`` with the job id.
* ``wait_for_job(job_id)``: resume a job without resubmitting; same answer.
* ``get_job(job_id)``: one status read.
* ``list_jobs()``: this server's jobs, submits of unknown outcome, and the spend counted.

Safety: ``generate_image`` is annotated non-idempotent and the server's instructions say
"Paid: never resubmit a job that may exist"; a spend cap (``max_cost``) counts the
worst-case price of every submit since start and refuses past it; ``image_path`` reads
only inside allowed directories (resolved, so symlinks cannot escape, and opened without
following links, so one swapped in after the check cannot either); images go to one
output directory; every SDK error becomes a tool error saying what to do, with the job id
when one is known. The token comes from ``SHARKAPI_TOKEN`` only and never appears in a
result, an error or a log line.

    from decimal import Decimal

    from sharkapi_ext import AsyncSharkAPI
    from sharkapi_ext.mcp import ServerConfig, build_server

    server = build_server(AsyncSharkAPI(), ServerConfig(max_cost=Decimal("0.50")))
    # mcp.Client(server) connects in-process; `serve_stdio` runs it for a host.

This package is loaded lazily: ``mcp_command`` needs only click, so the ``sharkapi``
command line does not import the MCP SDK until ``sharkapi mcp`` runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._budget import SpendCap, SpendCapExceededError
    from ._command import mcp_command
    from ._config import (
        DEFAULT_HEARTBEAT_SECONDS,
        DEFAULT_MAX_COST,
        DEFAULT_MAX_WAIT_SECONDS,
        DEFAULT_OUTPUT_DIR,
        ServerConfig,
    )
    from ._guard import PathGuard, PathNotAllowedError
    from ._server import INSTRUCTIONS, build_server
    from ._stdio import serve_stdio

_LAZY = {
    "SpendCap": "._budget",
    "SpendCapExceededError": "._budget",
    "mcp_command": "._command",
    "PathGuard": "._guard",
    "PathNotAllowedError": "._guard",
    "DEFAULT_HEARTBEAT_SECONDS": "._config",
    "DEFAULT_MAX_COST": "._config",
    "DEFAULT_MAX_WAIT_SECONDS": "._config",
    "DEFAULT_OUTPUT_DIR": "._config",
    "INSTRUCTIONS": "._server",
    "ServerConfig": "._config",
    "build_server": "._server",
    "serve_stdio": "._stdio",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "DEFAULT_MAX_COST",
    "DEFAULT_MAX_WAIT_SECONDS",
    "DEFAULT_OUTPUT_DIR",
    "INSTRUCTIONS",
    "PathGuard",
    "PathNotAllowedError",
    "ServerConfig",
    "SpendCap",
    "SpendCapExceededError",
    "build_server",
    "mcp_command",
    "serve_stdio",
]
