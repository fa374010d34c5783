"""The tools' workflow: submit, wait (bounded), download, answer; apart from the protocol.

One call of `generate_image`: `generate` reads a guarded `image_path`, reserves the
worst-case price in the `Ledger`, submits through `AsyncSharkAPI.submit` and records
the job, then `_settle` waits at most until the call's deadline (a `Heartbeat` naming
the job meanwhile), downloads the image into the output directory and answers with its
path, the job id, the cost and a JPEG thumbnail. Past the deadline it answers `pending`
with the job id; `wait_for_job` picks the job up again without resubmitting. Whatever
fails once the job exists, the error names it (`Failure.about_job`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.server import ServerRequestContext
from sharkapi_spec import DEFAULT_MODE, SUCCESS_STATUS

from sharkapi_ext import (
    AsyncSharkAPI,
    Job,
    JobError,
    JobStatus,
    Reservation,
    SharkAPIError,
    WaitTimeoutError,
    format_dollars,
    job_status_dict,
)

from ._config import ServerConfig
from ._errors import describe
from ._guard import PathGuard
from ._heartbeat import Heartbeat
from ._ledger import Ledger
from ._results import Results, thumbnail

__all__ = ["Workflow"]

logger = logging.getLogger("sharkapi.mcp")


class Workflow:
    """The four tools, each a coroutine from its validated arguments to its result.

    Args:
        config: The timings and the thumbnail size.
        guard: Where `image_path` may read from.
        output: The resolved directory images are saved in.
        results: Builds (and scrubs) every result.
        clock: Monotonic seconds, for the calls' deadlines and heartbeats.
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        guard: PathGuard,
        output: Path,
        results: Results,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._guard = guard
        self._output = output
        self._results = results
        self._clock = clock
        self.ledger = Ledger(config.max_cost)

    async def generate(
        self, ctx: ServerRequestContext[Any], client: AsyncSharkAPI, args: dict[str, Any]
    ) -> types.CallToolResult:
        """`generate_image`: a new, paid job, waited on until the call's deadline."""
        started = self._clock()
        prompt: str = args["prompt"]
        mode: str = args.get("mode", DEFAULT_MODE)
        image: bytes | None = None
        try:
            if "image_path" in args:
                image = await anyio.to_thread.run_sync(self._guard.read, args["image_path"])
            # Counted before anything is sent; no await between the check and the count.
            reservation = self.ledger.reserve(mode)
        except SharkAPIError as exc:
            logger.warning("generate_image refused: %s", exc)
            return self._results.failed(describe(exc))
        try:
            job = await client.submit(
                prompt, mode=mode, image=image, image_strength=args.get("image_strength")
            )
        except BaseException as exc:
            self.ledger.submit_failed(reservation, exc, mode, prompt)
            if not isinstance(exc, Exception):
                raise  # a cancellation: no result goes back; the ledger logged it
            failure = describe(exc)
            logger.warning("generate_image submit failed: %s", self._results.scrub(failure.text()))
            return self._results.failed(failure)
        try:
            self.ledger.submitted(job, mode, prompt, reservation)
        except Exception as exc:
            # The API answered 2xx: the job exists, whatever fails in the bookkeeping.
            return self._failed_about(exc, job.job_id, submitted=True)
        try:
            return await self._settle(ctx, client, job, started, "submitted", reservation)
        except BaseException as exc:  # _settle answers every Exception: a cancellation
            logger.warning(
                "generate_image %s after job %s was submitted; it may be charged when it "
                'completes: wait_for_job with job_id="%s" resumes it',
                type(exc).__name__,
                job.job_id,
                job.job_id,
            )
            raise

    async def wait_for_job(
        self, ctx: ServerRequestContext[Any], client: AsyncSharkAPI, args: dict[str, Any]
    ) -> types.CallToolResult:
        """`wait_for_job`: resume a job (never resubmitting it); the same answer."""
        started = self._clock()
        return await self._settle(ctx, client, args["job_id"], started, "waiting", None)

    async def get_job(
        self, ctx: ServerRequestContext[Any], client: AsyncSharkAPI, args: dict[str, Any]
    ) -> types.CallToolResult:
        """`get_job`: one status read."""
        status = await client.get_job(args["job_id"])
        record = self.ledger.seen(status)
        data: dict[str, Any] = job_status_dict(status)
        del data["image_url"]  # the model works with the saved file, never the link
        if record is not None and record.path:
            data["path"] = record.path
        text = f"Job {status.job_id}: {status.status}, mode {status.mode}"
        if status.cost is not None:
            text += f", cost {format_dollars(status.cost)}"
        if status.error_code or status.error_message:
            text += f", error {status.error_code}: {status.error_message}"
        if not status.is_terminal:
            text += f'. Still running: call wait_for_job with job_id="{status.job_id}".'
        elif status.status == SUCCESS_STATUS and not data.get("path"):
            text += f'. Call wait_for_job with job_id="{status.job_id}" to save the image.'
        return self._results.ok(text, data)

    async def list_jobs(
        self, ctx: ServerRequestContext[Any], client: AsyncSharkAPI, args: dict[str, Any]
    ) -> types.CallToolResult:
        """`list_jobs`: this session's jobs, its unknown submits, and its spend."""
        ledger, cap = self.ledger, self.ledger.cap
        jobs = [record.as_dict() for record in ledger.jobs.values()]
        unknown = [entry.as_dict() for entry in ledger.unknown]
        data = {"jobs": jobs, "outcome_unknown_submits": unknown, **ledger.spend()}
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
            f"Spend counted: {format_dollars(cap.counted)} of the {format_dollars(cap.cap)} "
            f"cap ({format_dollars(cap.remaining)} left)."
        )
        return self._results.ok("\n".join(lines), data)

    # -- waiting, downloading, answering ----------------------------------------------

    def _failed_about(
        self, exc: Exception, job_id: str, *, submitted: bool
    ) -> types.CallToolResult:
        failure = describe(exc).about_job(job_id, submitted=submitted)
        logger.warning("job %s: %s", job_id, self._results.scrub(failure.text()))
        return self._results.failed(failure)

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
        beat = Heartbeat(
            ctx,
            job_id,
            started=started,
            clock=self._clock,
            total=self._config.max_wait_seconds,
            every=self._config.heartbeat_seconds,
            status=first,
        )
        try:
            await beat.report(first)
            return await self._wait_and_save(client, job, started, beat, reservation)
        except Exception as exc:
            return self._failed_about(exc, job_id, submitted=first == "submitted")

    async def _wait_and_save(
        self,
        client: AsyncSharkAPI,
        job: Job | str,
        started: float,
        beat: Heartbeat,
        reservation: Reservation | None,
    ) -> types.CallToolResult:
        job_id = job if isinstance(job, str) else job.job_id
        record = self.ledger.jobs.get(job_id)
        remaining = started + self._config.max_wait_seconds - self._clock()
        final: JobStatus | None = None
        error: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(beat.run)
            try:
                final = await client.wait(job, timeout=max(remaining, 0.1), on_update=beat.update)
            except Exception as exc:  # handled below, outside the task group
                error = exc
            finally:
                group.cancel_scope.cancel()
        if isinstance(error, WaitTimeoutError):
            last = error.last_status.status if error.last_status else beat.status
            if record is not None:
                record.status = last
            return self._results.pending(job_id, last, self._config.max_wait_seconds)
        if isinstance(error, JobError):
            if record is not None:
                record.status, record.cost = error.status.status, error.status.cost
            logger.info("job %s ended %s (not charged)", job_id, error.status.status)
            return self._results.failed(describe(error))
        if error is not None:
            raise error
        assert final is not None  # wait returned, so it returned a status
        record = self.ledger.finished(job_id, final, reservation)
        if record.path is not None and Path(record.path).is_file():
            path = Path(record.path)  # saved by an earlier call: one download per job
        else:
            await beat.report("downloading")
            self._output.mkdir(parents=True, exist_ok=True)
            path = await client.download(final, self._output)
        record.path = str(path)
        preview = await anyio.to_thread.run_sync(thumbnail, path, self._config.thumbnail_pixels)
        logger.info("job %s complete, saved %s", job_id, path)
        data: dict[str, Any] = job_status_dict(final)
        del data["image_url"]  # the model works with the saved file, never the link
        data["path"] = str(path)
        data.update(self.ledger.spend())
        cap = self.ledger.cap
        cost = format_dollars(final.cost) if final.cost is not None else "not reported"
        text = (
            f"Image saved to {path} (job {job_id}, mode {final.mode}, cost {cost}). "
            f"Session spend counted: {format_dollars(cap.counted)} of the "
            f"{format_dollars(cap.cap)} cap."
        )
        return self._results.ok(text, data, preview)
