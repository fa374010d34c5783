"""Running the server over stdio: the client from the environment, or a local sandbox."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from mcp.server.stdio import stdio_server
from sharkapi_spec import POLL_INTERVAL_SECONDS

from sharkapi_ext import AsyncSharkAPI, InvalidRequestError

from ._config import ServerConfig
from ._server import build_server

__all__ = ["SANDBOX_POLL_INTERVAL", "client_from_settings", "serve_stdio"]

logger = logging.getLogger("sharkapi.mcp")

#: Demo timings of `--sandbox`: the job takes about two seconds, like the CLI's demo.
SANDBOX_QUEUED_SECONDS = 0.5
SANDBOX_PROCESSING_SECONDS = 1.5
#: Polling the local sandbox every 2 s (the real API's rate) would only add waiting.
SANDBOX_POLL_INTERVAL = 0.25


def client_from_settings(
    token: str | None, *, base_url: str | None, poll_interval: float
) -> tuple[AsyncSharkAPI | None, str | None]:
    """The SDK client, or None and why not, in words for the server's user.

    The SDK's own messages speak to a Python caller (``pass token=...``); no tool has
    such an argument, and the token must never come through the conversation, so the
    reason names what the user sets instead: the server's environment.

    Args:
        token: The token from ``SHARKAPI_TOKEN`` (or the sandbox's), None when unset.
        base_url: The API's base URL, None for the default.
        poll_interval: Seconds between polls.

    Returns:
        ``(client, None)``, or ``(None, reason)`` when the settings cannot make one.
    """
    try:
        client = AsyncSharkAPI(token, base_url=base_url, poll_interval=poll_interval)
    except InvalidRequestError as exc:
        if exc.field == "token" and not token:
            problem = "no API token: SHARKAPI_TOKEN is not set in this MCP server's environment"
        elif exc.field == "token":
            # The SDK's message never quotes the token; keep only its reason.
            problem = f"SHARKAPI_TOKEN in this MCP server's environment is not usable: {exc}"
        elif exc.field == "base_url":
            problem = (
                f"the API base URL (SHARKAPI_BASE_URL or --base-url in this MCP server's "
                f"configuration) is not usable: {exc}"
            )
        else:
            problem = f"the MCP server's configuration is not usable: {exc}"
        logger.warning("not configured: %s", problem)
        return None, problem
    return client, None


async def serve_stdio(
    config: ServerConfig,
    *,
    sandbox: bool = False,
    base_url: str | None = None,
    poll_interval: float | None = None,
) -> None:
    """Serve the SharkAPI tools on stdin/stdout until the host closes the connection.

    The token is read from ``SHARKAPI_TOKEN`` only: never from an argument, so it is not
    visible in a process list, and never from a tool call. Without it the server still
    starts, and every tool tells the assistant how the user can set it.

    Args:
        config: The cap, directories and timings.
        sandbox: Start a local sandbox in this process and use it (no account needed).
        base_url: The API's base URL (default: ``SHARKAPI_BASE_URL`` or the real API).
        poll_interval: Seconds between polls (default: the spec's interval; 0.25 with sandbox).

    Raises:
        ValueError: ``config.max_cost`` is not a finite amount >= 0.
        OSError: An allowed directory is missing, or the sandbox cannot bind a port.
    """
    with contextlib.ExitStack() as stack:
        env_token = os.environ.get("SHARKAPI_TOKEN")
        token = env_token
        if sandbox:
            from sharkapi_ext.sandbox import Sandbox, SandboxConfig

            box: Any = stack.enter_context(
                Sandbox(
                    SandboxConfig(
                        queued_seconds=SANDBOX_QUEUED_SECONDS,
                        processing_seconds=SANDBOX_PROCESSING_SECONDS,
                    )
                )
            )
            token, base_url = box.token, box.base_url
            poll_interval = poll_interval or SANDBOX_POLL_INTERVAL
        client, problem = client_from_settings(
            token, base_url=base_url, poll_interval=poll_interval or POLL_INTERVAL_SECONDS
        )
        secrets = [t for t in (env_token, token) if t]
        server = build_server(client, config, secrets=secrets, client_problem=problem)
        try:
            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())
        finally:
            if client is not None:
                await client.aclose()
