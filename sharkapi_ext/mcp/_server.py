"""The MCP server: four task-level tools over the SDK's public async client.

One call of `generate_image`, end to end: `_Tools.call` validates the arguments against
the tool's input schema, `_generate` reads a guarded `image_path`, reserves the worst-case
price with the `SpendCap`, submits through `AsyncSharkAPI.submit`, records the job, then
`_settle` waits at most until the call's deadline (sending a progress heartbeat that names
the job), downloads the image into the output directory and returns its path, the job id,
the cost and a JPEG thumbnail. Past the deadline it returns `pending` with the job id;
`wait_for_job` picks the job up again without resubmitting. Every exception becomes a tool
error through `_errors.describe`, and every text that leaves passes `_scrub`.
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.to_thread
import mcp_types as types
from jsonschema import Draft202012Validator
from mcp.server import Server, ServerRequestContext
from sharkapi_spec import DEFAULT_MODE, SUCCESS_STATUS

from sharkapi_ext import (
    APIConnectionError,
    APIStatusError,
    AsyncSharkAPI,
    InternalServerError,
    InvalidRequestError,
    Job,
    JobError,
    JobStatus,
    SharkAPIError,
    SubmissionOutcomeUnknownError,
    WaitTimeoutError,
)
from sharkapi_ext import __version__ as SDK_VERSION

from ._budget import Reservation, SpendCap
from ._config import ServerConfig
from ._errors import Failure, describe
from ._guard import PathGuard
from ._schemas import GENERATE_IMAGE, GET_JOB, LIST_JOBS, WAIT_FOR_JOB, ToolSpec, tool_specs

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


# Kinds of failure whose advice says calling the tool again is safe: true of reads, false
# for `generate_image` once its submit was answered 2xx.
_SAFE_TO_RETRY_KINDS: Final = frozenset({"internal", "service_error", "error"})


@dataclass
class _JobRecord:
    """One job this server submitted (or resumed), for `list_jobs`."""

    job_id: str
    mode: str | None
    prompt: str | None
    status: str
    estimated_cost: Decimal | None = None
    cost: Decimal | None = None
    path: str | None = None
    submitted_here: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "mode": self.mode,
            "prompt": self.prompt,
            "estimated_cost": _money(self.estimated_cost),
            "cost": _money(self.cost),
            "path": self.path,
            "submitted_by_this_server": self.submitted_here,
        }


@dataclass
class _UnknownSubmit:
    """A submit that may have created a job whose id is unknown."""

    mode: str
    prompt: str
    error: str
    at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "outcome_unknown",
            "job_id": None,
            "mode": self.mode,
            "prompt": self.prompt,
            "error": self.error,
            "submitted_at": self.at,
        }


@dataclass
class _Watch:
    """What the heartbeat reports while a wait runs."""

    status: str
    changed: anyio.Event = field(default_factory=anyio.Event)
    last_progress: float = 0.0


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


def _preview(prompt: str) -> str:
    return prompt if len(prompt) <= 80 else prompt[:79] + "…"


def _no_job_created(exc: BaseException) -> bool:
    """True when the API (or the SDK before sending) guarantees a submit created no job."""
    if isinstance(exc, InvalidRequestError):
        return True
    if isinstance(exc, APIStatusError):
        return not isinstance(exc, InternalServerError)
    return isinstance(exc, APIConnectionError) and not isinstance(
        exc, SubmissionOutcomeUnknownError
    )


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


def _thumbnail(path: Path, pixels: int) -> str:
    """A small JPEG preview of a saved image, base64-encoded."""
    from PIL import Image

    with Image.open(path) as image:
        image.thumbnail((pixels, pixels))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_Handler = Callable[
    [ServerRequestContext[Any], AsyncSharkAPI, dict[str, Any]], Awaitable[types.CallToolResult]
]


class _Tools:
    """The tools' state (the client, the cap, the guard, the jobs) and their handlers."""

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
        self._config = config
        self._cap = SpendCap(config.max_cost)
        self._guard = PathGuard(config.allow_dirs or _default_allowed())
        self._output = Path(config.output_dir).expanduser().resolve()
        if self._output.parent == Path(self._output.anchor):
            logger.warning("images go to %s; pass --output-dir to choose a folder", self._output)
        self._secrets = tuple(s for s in secrets if s)
        self._clock = clock
        self._jobs: dict[str, _JobRecord] = {}
        self._unknown: list[_UnknownSubmit] = []
        self.specs: list[ToolSpec] = tool_specs(
            max_cost=config.max_cost,
            allowed_dirs=tuple(str(d) for d in self._guard.allowed),
            max_wait=config.max_wait_seconds,
        )
        self._validators = {
            spec.name: Draft202012Validator(dict(spec.input_schema)) for spec in self.specs
        }
        self.instructions = INSTRUCTIONS.format(
            cap=f"${config.max_cost:.2f}",
            out=self._output,
            dirs=", ".join(str(d) for d in self._guard.allowed) or "no directory (no --allow-dir)",
        )

    # -- MCP handlers ---------------------------------------------------------------

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
        handler = self._handlers().get(params.name)
        if handler is None:
            return self._failed(
                Failure(
                    "unknown_tool",
                    "UnknownTool",
                    f"there is no tool named {params.name!r}",
                    f"use one of: {', '.join(self._handlers())}.",
                )
            )
        arguments = dict(params.arguments or {})
        problem = self._invalid(params.name, arguments)
        if problem is not None:
            return self._failed(describe(problem, submitting=False))
        if self._client is None:
            return self._failed(
                Failure(
                    "auth",
                    "NotConfigured",
                    self._client_problem or "the SharkAPI client is not configured",
                    "the user must set SHARKAPI_TOKEN in this MCP server's env block in the "
                    "host config and restart the server. Never ask the user to paste a token "
                    "into the conversation.",
                )
            )
        try:
            return await handler(ctx, self._client, arguments)
        except Exception as exc:
            failure = describe(exc, submitting=False)
            if failure.job_id is None and "job_id" in arguments:
                failure = replace(failure, job_id=arguments["job_id"])  # every error names it
            logger.warning("%s failed: %s", params.name, self._scrub(failure.text()))
            return self._failed(failure)

    def _handlers(
        self,
    ) -> dict[str, _Handler]:
        return {
            GENERATE_IMAGE: self._generate,
            WAIT_FOR_JOB: self._wait_for_job,
            GET_JOB: self._get_job,
            LIST_JOBS: self._list_jobs,
        }

    def _invalid(self, name: str, arguments: Mapping[str, Any]) -> InvalidRequestError | None:
        """The first schema violation, named by its field; None when the arguments fit."""
        errors = sorted(
            self._validators[name].iter_errors(arguments), key=lambda e: list(e.absolute_path)
        )
        if not errors:
            return None
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "arguments"
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        if error.validator == "maxLength" and isinstance(error.instance, str):
            message = f"{len(error.instance)} characters, more than {error.validator_value}"
        return InvalidRequestError(where, message)

    # -- the tools ------------------------------------------------------------------

    async def _generate(
        self, ctx: ServerRequestContext[Any], client: AsyncSharkAPI, args: dict[str, Any]
    ) -> types.CallToolResult:
        started = self._clock()
        prompt: str = args["prompt"]
        mode: str = args.get("mode", DEFAULT_MODE)
        image: bytes | None = None
        if "image_path" in args:
            try:
                image = await anyio.to_thread.run_sync(self._guard.read, args["image_path"])
            except SharkAPIError as exc:
                return self._failed(describe(exc, submitting=False))
        # Counted before anything is sent; no await between the check and the count.
        try:
            reservation = self._cap.reserve(mode)
        except SharkAPIError as exc:
            logger.warning("generate_image refused: %s", exc)
            return self._failed(describe(exc, submitting=False))
        try:
            job = await client.submit(
                prompt, mode=mode, image=image, image_strength=args.get("image_strength")
            )
        except BaseException as exc:
            if _no_job_created(exc):
                self._cap.release(reservation)
            elif isinstance(exc, SharkAPIError) and exc.job_id:
                self._jobs[exc.job_id] = _JobRecord(exc.job_id, mode, _preview(prompt), "unknown")
            else:
                self._unknown.append(
                    _UnknownSubmit(mode, _preview(prompt), type(exc).__name__, _now_iso())
                )
            if not isinstance(exc, Exception):
                raise  # cancellation: the reservation stays counted
            failure = describe(exc, submitting=True)
            logger.warning("generate_image submit failed: %s", self._scrub(failure.text()))
            return self._failed(failure)
        try:
            record = _JobRecord(
                job.job_id, mode, _preview(prompt), job.status, estimated_cost=job.estimated_cost
            )
            self._jobs[job.job_id] = record
            self._cap.raise_to(reservation, job.estimated_cost)
        except Exception as exc:
            # The API answered 2xx: the job exists, whatever fails in the bookkeeping.
            failure = describe(exc, submitting=True)
            return self._failed(self._about_job(failure, job.job_id, submitted=True))
        return await self._settle(ctx, client, job, started, "submitted", reservation)

    async def _wait_for_job(
        self, ctx: ServerRequestContext[Any], client: AsyncSharkAPI, args: dict[str, Any]
    ) -> types.CallToolResult:
        started = self._clock()
        return await self._settle(ctx, client, args["job_id"], started, "waiting", None)

    async def _get_job(
        self, ctx: ServerRequestContext[Any], client: AsyncSharkAPI, args: dict[str, Any]
    ) -> types.CallToolResult:
        status = await client.get_job(args["job_id"])
        record = self._jobs.get(status.job_id)
        if record is not None:
            record.status, record.cost = status.status, status.cost
        data = _status_dict(status)
        if record is not None and record.path:
            data["path"] = record.path
        text = f"Job {status.job_id}: {status.status}, mode {status.mode}"
        if status.cost is not None:
            text += f", cost ${status.cost:.2f}"
        if status.error_code or status.error_message:
            text += f", error {status.error_code}: {status.error_message}"
        if not status.is_terminal:
            text += f'. Still running: call wait_for_job with job_id="{status.job_id}".'
        elif status.status == SUCCESS_STATUS and not data.get("path"):
            text += f'. Call wait_for_job with job_id="{status.job_id}" to save the image.'
        return self._ok(text, data)

    async def _list_jobs(
        self, ctx: ServerRequestContext[Any], client: AsyncSharkAPI, args: dict[str, Any]
    ) -> types.CallToolResult:
        jobs = [record.as_dict() for record in self._jobs.values()]
        unknown = [entry.as_dict() for entry in self._unknown]
        data = {
            "jobs": jobs,
            "outcome_unknown_submits": unknown,
            "spend_counted": _money(self._cap.counted),
            "spend_cap": _money(self._cap.cap),
            "spend_remaining": _money(self._cap.remaining),
        }
        lines = [f"{len(jobs)} job(s) this session."]
        lines += [
            f"- {j['job_id']}: {j['status']}" + (f", saved {j['path']}" if j["path"] else "")
            for j in jobs
        ]
        if unknown:
            lines.append(
                f"{len(unknown)} submit(s) with unknown outcome: a job may exist for each; "
                "do not resubmit them."
            )
        lines.append(
            f"Spend counted: ${self._cap.counted:.2f} of the ${self._cap.cap:.2f} cap "
            f"(${self._cap.remaining:.2f} left)."
        )
        return self._ok("\n".join(lines), data)

    # -- waiting, downloading, answering ----------------------------------------------

    async def _settle(
        self,
        ctx: ServerRequestContext[Any],
        client: AsyncSharkAPI,
        job: Job | str,
        started: float,
        first: str,
        reservation: Reservation | None,
    ) -> types.CallToolResult:
        """Wait until the call's deadline, then answer with the image or `pending`.

        Whatever goes wrong from here on, the job exists: every error names it.
        """
        job_id = job if isinstance(job, str) else job.job_id
        watch = _Watch(status=first)
        try:
            await self._progress(ctx, watch, job_id, started, first)
            return await self._wait_and_save(ctx, client, job, started, watch, reservation)
        except Exception as exc:
            failure = describe(exc, submitting=False)
            return self._failed(self._about_job(failure, job_id, submitted=first == "submitted"))

    async def _wait_and_save(
        self,
        ctx: ServerRequestContext[Any],
        client: AsyncSharkAPI,
        job: Job | str,
        started: float,
        watch: _Watch,
        reservation: Reservation | None,
    ) -> types.CallToolResult:
        job_id = job if isinstance(job, str) else job.job_id
        record = self._jobs.get(job_id)
        remaining = started + self._config.max_wait_seconds - self._clock()

        def on_update(status: JobStatus) -> None:
            watch.status = status.status
            watch.changed.set()

        final: JobStatus | None = None
        error: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._heartbeat, ctx, watch, job_id, started)
            try:
                final = await client.wait(job, timeout=max(remaining, 0.1), on_update=on_update)
            except Exception as exc:  # handled below, outside the task group
                error = exc
            finally:
                group.cancel_scope.cancel()
        if isinstance(error, WaitTimeoutError):
            last = error.last_status.status if error.last_status else watch.status
            if record is not None:
                record.status = last
            return self._pending(job_id, last)
        if isinstance(error, JobError):
            if record is not None:
                record.status, record.cost = error.status.status, error.status.cost
            logger.info("job %s ended %s (not charged)", job_id, error.status.status)
            return self._failed(describe(error, submitting=False))
        if error is not None:
            raise error
        assert final is not None  # wait returned, so it returned a status
        if record is None:
            record = self._jobs[job_id] = _JobRecord(
                job_id, final.mode, None, final.status, submitted_here=False
            )
        record.status, record.cost = final.status, final.cost
        record.estimated_cost = final.estimated_cost
        if reservation is not None:
            self._cap.raise_to(reservation, final.cost)
        if record.path is not None and Path(record.path).is_file():
            path = Path(record.path)  # saved by an earlier call: one download per job
        else:
            await self._progress(ctx, watch, job_id, started, "downloading")
            self._output.mkdir(parents=True, exist_ok=True)
            path = await client.download(final, self._output)
        record.path = str(path)
        preview = await anyio.to_thread.run_sync(_thumbnail, path, self._config.thumbnail_pixels)
        logger.info("job %s complete, saved %s", job_id, path)
        data = _status_dict(final)
        data["path"] = str(path)
        data["spend_counted"] = _money(self._cap.counted)
        data["spend_cap"] = _money(self._cap.cap)
        cost = f"${final.cost:.2f}" if final.cost is not None else "not reported"
        text = (
            f"Image saved to {path} (job {job_id}, mode {final.mode}, cost {cost}). "
            f"Session spend counted: ${self._cap.counted:.2f} of the ${self._cap.cap:.2f} cap."
        )
        return self._ok(text, data, preview)

    async def _heartbeat(
        self, ctx: ServerRequestContext[Any], watch: _Watch, job_id: str, started: float
    ) -> None:
        while True:
            with anyio.move_on_after(self._config.heartbeat_seconds):
                await watch.changed.wait()
            watch.changed = anyio.Event()
            await self._progress(ctx, watch, job_id, started, watch.status)

    async def _progress(
        self,
        ctx: ServerRequestContext[Any],
        watch: _Watch,
        job_id: str,
        started: float,
        what: str,
    ) -> None:
        elapsed = self._clock() - started
        # Progress must increase with every notification, even when the clock does not.
        watch.last_progress = max(elapsed, watch.last_progress + 0.001)
        await ctx.session.report_progress(
            watch.last_progress,
            self._config.max_wait_seconds,
            f"job {job_id}: {what} ({elapsed:.0f} s)",
        )

    def _about_job(self, failure: Failure, job_id: str, *, submitted: bool = False) -> Failure:
        """A failure after the job exists always names it and says how to resume.

        After this call's own submit was answered 2xx (`submitted`), calling the tool
        again would pay for a second job: advice that says retrying is safe is replaced.
        """
        logger.warning("job %s: %s", job_id, self._scrub(failure.text()))
        if submitted and failure.kind in _SAFE_TO_RETRY_KINDS:
            return replace(
                failure,
                job_id=job_id,
                job_may_exist=False,
                what_to_do=f"tell the user; job {job_id} was submitted and may be charged: "
                f'call wait_for_job with job_id="{job_id}" later. Do NOT call generate_image '
                "again for this request: that could pay for a second image.",
            )
        if failure.job_id is not None:
            return failure
        if failure.kind == "not_found":  # the id the model gave names no job of this account
            return replace(failure, job_id=job_id)
        return replace(
            failure,
            job_id=job_id,
            what_to_do=f"{failure.what_to_do} Job {job_id} exists: call wait_for_job with "
            f'job_id="{job_id}" later; do not submit it again.',
        )

    def _pending(self, job_id: str, status: str) -> types.CallToolResult:
        step = (
            f'call wait_for_job with job_id="{job_id}" to keep waiting. Do NOT call '
            "generate_image again: this job exists and will be charged when it completes."
        )
        text = (
            f"Job {job_id} is still {status} after {self._config.max_wait_seconds:g} s "
            f"(pending). Next: {step}"
        )
        return self._ok(
            text, {"status": "pending", "job_id": job_id, "job_status": status, "next_step": step}
        )

    def _ok(
        self, text: str, data: dict[str, Any], preview: str | None = None
    ) -> types.CallToolResult:
        content: list[types.TextContent | types.ImageContent] = [
            types.TextContent(type="text", text=self._scrub(text))
        ]
        if preview is not None:
            content.append(types.ImageContent(type="image", data=preview, mime_type="image/jpeg"))
        return types.CallToolResult(
            content=list(content), structured_content=self._scrub_data(data), is_error=False
        )

    def _failed(self, failure: Failure) -> types.CallToolResult:
        data = {
            "error": failure.error,
            "kind": failure.kind,
            "message": failure.message,
            "job_id": failure.job_id,
            "job_may_exist": failure.job_may_exist or failure.job_id is not None,
            "what_to_do": failure.what_to_do,
        }
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=self._scrub(failure.text()))],
            structured_content=self._scrub_data(data),
            is_error=True,
        )

    def _scrub(self, text: str) -> str:
        # The SDK never puts the token in a message; this is the second lock, in case a
        # server echoes it into an error body that ends up in a message.
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def _scrub_data(self, data: Any) -> Any:
        if isinstance(data, str):
            return self._scrub(data)
        if isinstance(data, dict):
            return {key: self._scrub_data(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self._scrub_data(value) for value in data]
        return data


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


def _status_dict(status: JobStatus) -> dict[str, Any]:
    return {
        "job_id": status.job_id,
        "status": status.status,
        "mode": status.mode,
        "estimated_cost": _money(status.estimated_cost),
        "cost": _money(status.cost),
        "error_code": status.error_code,
        "error_message": status.error_message,
        "created_at": status.created_at.isoformat(),
        "updated_at": status.updated_at.isoformat() if status.updated_at else None,
    }


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
    tools = _Tools(
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
        instructions=tools.instructions,
        on_list_tools=tools.list_tools,
        on_call_tool=tools.call_tool,
    )
