"""Helpers for the MCP tests: an in-process MCP client session over memory streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp_types import CallToolResult

from sharkapi_ext import AsyncSharkAPI
from sharkapi_ext.mcp import ServerConfig, build_server
from sharkapi_ext.mcp._stdio import client_from_settings
from sharkapi_ext.sandbox import Sandbox

#: Hard bound of one test's MCP session: a hang fails the test instead of the run.
SESSION_SECONDS = 30


@dataclass
class Session:
    """One connected MCP client, recording everything the server sent back."""

    client: Client
    progress: list[tuple[float, float | None, str | None]] = field(default_factory=list)
    results: list[CallToolResult] = field(default_factory=list)

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            self.progress.append((progress, total, message))

        result = await self.client.call_tool(name, arguments or {}, progress_callback=on_progress)
        self.results.append(result)
        return result

    def everything_sent(self) -> str:
        """Every text, structured result and progress message, as one string."""
        parts = [json.dumps(r.model_dump(mode="json", by_alias=True)) for r in self.results]
        parts += [str(message) for _, _, message in self.progress]
        return "\n".join(parts)


def text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def run(body: Callable[[], Awaitable[None]], seconds: float = SESSION_SECONDS) -> None:
    """Run an async test body on asyncio (the SDK's async client needs it), time-bounded."""

    async def bounded() -> None:
        with anyio.fail_after(seconds):
            await body()

    anyio.run(bounded, backend="asyncio")


@asynccontextmanager
async def connect(
    sandbox: Sandbox | None,
    tmp_path: Path,
    *,
    token: str | None = None,
    max_retries: int = 2,
    mode: str = "legacy",
    **config: Any,
) -> AsyncIterator[Session]:
    """An MCP client connected in-process (memory streams) to a server on the sandbox.

    Args:
        sandbox: The sandbox the SDK talks to; None builds a server with no client.
        tmp_path: Holds the allowed directory (`allowed/`) and the output (`out/`).
        token: The bearer token (default: the sandbox's ready token).
        max_retries: The SDK client's retries.
        mode: The MCP client's connect mode ("legacy" drives JSON-RPC over memory streams).
        **config: `ServerConfig` fields over fast test defaults.
    """
    allowed = tmp_path / "allowed"
    allowed.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "allow_dirs": [allowed],
        "output_dir": tmp_path / "out",
        "max_wait_seconds": 10.0,
        "heartbeat_seconds": 0.05,
        "max_cost": Decimal("1.00"),
        **config,
    }
    if sandbox is None:
        # Made as `sharkapi mcp` makes it when SHARKAPI_TOKEN is unset (conftest unsets it).
        none, problem = client_from_settings(None, base_url=None, poll_interval=2.0)
        assert none is None
        server = build_server(None, ServerConfig(**settings), client_problem=problem)
        async with Client(server, mode=mode) as client:
            yield Session(client)
        return
    secret = token or sandbox.token
    async with AsyncSharkAPI(
        secret, base_url=sandbox.base_url, poll_interval=0.02, max_retries=max_retries
    ) as sdk:
        server = build_server(sdk, ServerConfig(**settings), secrets=[secret])
        async with Client(server, mode=mode) as client:
            yield Session(client)
