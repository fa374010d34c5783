"""The MCP protocol adapter: four task-level tools over the SDK's public async client.

`build_server` makes a low-level `mcp.server.Server` whose two handlers live here:
`list_tools` (the tools' schemas and annotations) and `call_tool`, which checks the
arguments against the tool's input schema (`_arguments`), then runs the tool's
`Workflow` coroutine (`_workflow`: submit, wait, download, and the session's `Ledger`).
Every exception becomes a tool error through `_errors.describe`, and every result
leaves through `_results.Results`, which scrubs the token out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import mcp_types as types
from mcp.server import Server, ServerRequestContext

from sharkapi_ext import AsyncSharkAPI, format_dollars
from sharkapi_ext import __version__ as SDK_VERSION

from ._arguments import ArgumentCheck
from ._config import ServerConfig
from ._errors import Failure, describe
from ._guard import PathGuard
from ._results import Results
from ._schemas import GENERATE_IMAGE, GET_JOB, LIST_JOBS, WAIT_FOR_JOB, ToolSpec, tool_specs
from ._workflow import Workflow

__all__ = ["INSTRUCTIONS", "build_server"]

logger = logging.getLogger("sharkapi.mcp")

INSTRUCTIONS: Final = (
    "SharkAPI image generation. Paid: never resubmit a job that may exist. Each "
    "generate_image call submits a NEW job that is charged when it completes. When a "
    "result says `pending`, or a result or error carries a job_id, continue with "
    "wait_for_job or get_job and that job_id. When an error says the outcome is unknown, "
    "tell the user instead of calling generate_image again. list_jobs shows this "
    "session's jobs and its spend. The spend cap ({cap}) was set by the user; no tool "
    "can raise it. Images are saved in {out}; image_path may only read from {dirs}."
)

_ANNOTATIONS: Final = {
    GENERATE_IMAGE: types.ToolAnnotations(
        title="Generate an image (paid)",
        read_only_hint=False,
        destructive_hint=False,
        idempotent_hint=False,  # every call is a new, paid job
        open_world_hint=True,
    ),
    WAIT_FOR_JOB: types.ToolAnnotations(
        title="Wait for an existing job (free)",
        read_only_hint=False,  # it saves the image file
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=True,
    ),
    GET_JOB: types.ToolAnnotations(
        title="Get a job's status (free)",
        read_only_hint=True,
        idempotent_hint=True,
        open_world_hint=True,
    ),
    LIST_JOBS: types.ToolAnnotations(
        title="List this session's jobs (free)",
        read_only_hint=True,
        idempotent_hint=True,
        open_world_hint=False,
    ),
}

_Handler = Callable[
    [ServerRequestContext[Any], AsyncSharkAPI, dict[str, Any]], Awaitable[types.CallToolResult]
]


def _default_allowed() -> list[Path]:
    """The default allowed directory: the working one, unless it is a filesystem root.

    Hosts often start servers in ``/``; allowing a whole disk by default would defeat
    the guard, so then nothing is allowed until the user names a directory.
    """
    cwd = Path.cwd().resolve()
    if cwd == Path(cwd.anchor):
        logger.warning(
            "the working directory is %s: image_path is refused until --allow-dir names a "
            "directory",
            cwd,
        )
        return []
    return [cwd]


class _Protocol:
    """The MCP handlers: tool listing, argument checks, dispatch to the workflow."""

    def __init__(
        self,
        client: AsyncSharkAPI | None,
        config: ServerConfig,
        *,
        secrets: Sequence[str],
        client_problem: str | None,
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._client_problem = client_problem
        guard = PathGuard(config.allow_dirs or _default_allowed())
        output = Path(config.output_dir).expanduser().resolve()
        if output.parent == Path(output.anchor):
            logger.warning("images go to %s; pass --output-dir to choose a folder", output)
        self._results = Results(secrets)
        workflow = Workflow(config, guard=guard, output=output, results=self._results, clock=clock)
        self._handlers: dict[str, _Handler] = {
            GENERATE_IMAGE: workflow.generate,
            WAIT_FOR_JOB: workflow.wait_for_job,
            GET_JOB: workflow.get_job,
            LIST_JOBS: workflow.list_jobs,
        }
        self.specs: list[ToolSpec] = tool_specs(
            max_cost=config.max_cost,
            allowed_dirs=tuple(str(d) for d in guard.allowed),
            max_wait=config.max_wait_seconds,
        )
        self._arguments = ArgumentCheck(self.specs)
        self.instructions = INSTRUCTIONS.format(
            cap=format_dollars(config.max_cost),
            out=output,
            dirs=", ".join(str(d) for d in guard.allowed) or "no directory (no --allow-dir)",
        )

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=spec.name,
                    title=spec.title,
                    description=spec.description,
                    input_schema=dict(spec.input_schema),
                    annotations=_ANNOTATIONS[spec.name],
                )
                for spec in self.specs
            ]
        )

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        handler = self._handlers.get(params.name)
        if handler is None:
            return self._results.failed(
                Failure(
                    "unknown_tool",
                    "UnknownTool",
                    f"there is no tool named {params.name!r}",
                    f"use one of: {', '.join(self._handlers)}.",
                )
            )
        arguments = dict(params.arguments or {})
        problem = self._arguments.problem(params.name, arguments)
        if problem is not None:
            return self._results.failed(describe(problem))
        if self._client is None:
            return self._results.failed(
                Failure(
                    "auth",
                    "NotConfigured",
                    self._client_problem or "the SharkAPI client is not configured",
                    "the user must set SHARKAPI_TOKEN in this MCP server's env block in the "
                    "host config and restart the server. Never ask the user to paste a token "
                    "into the conversation.",
                    account_problem=True,
                )
            )
        try:
            return await handler(ctx, self._client, arguments)
        except Exception as exc:
            failure = describe(exc)
            if failure.job_id is None and "job_id" in arguments:
                failure = replace(failure, job_id=arguments["job_id"])  # every error names it
            logger.warning("%s failed: %s", params.name, self._results.scrub(failure.text()))
            return self._results.failed(failure)


def build_server(
    client: AsyncSharkAPI | None,
    config: ServerConfig | None = None,
    *,
    secrets: Sequence[str] = (),
    client_problem: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Server[Any]:
    """The MCP server (a low-level `mcp.server.Server`) with the SharkAPI tools.

    Args:
        client: The SDK client the tools call; the caller owns and closes it. None when
            it could not be made (no token): every tool then explains how to configure it.
        config: The cap, directories and timings (defaults: `ServerConfig()`).
        secrets: Strings never to let out in a result (the token), as a second lock.
        client_problem: Why `client` is None, shown to the assistant.
        clock: Monotonic seconds, for the calls' deadlines and heartbeats.

    Returns:
        The server; run it with `serve_stdio` or connect an `mcp.Client` to it in-process.

    Raises:
        ValueError: ``config.max_cost`` is not a finite amount >= 0.
        OSError: An allowed directory does not exist or is not a directory.
    """
    protocol = _Protocol(
        client,
        config or ServerConfig(),
        secrets=secrets,
        client_problem=client_problem,
        clock=clock,
    )
    return Server(
        "sharkapi",
        version=SDK_VERSION,
        title="SharkAPI image generation",
        instructions=protocol.instructions,
        on_list_tools=protocol.list_tools,
        on_call_tool=protocol.call_tool,
    )
