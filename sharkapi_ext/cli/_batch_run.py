"""The batch runner: the second streaming pass, on `AsyncSharkAPI.iter_generate`.

It reads the file again, submits what is left to do, resumes the jobs the journal
holds, downloads each image once and journals every step (an intent as the submit goes
on the wire). It holds no task per line and no record per finished line, so memory
does not grow with the number of lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any, Final

from sharkapi_ext import (
    AsyncSharkAPI,
    AuthenticationError,
    BadRequestError,
    InsufficientBalanceError,
    InvalidRequestError,
    Job,
    JobError,
    JobStatus,
    ModerationError,
    PermissionDeniedError,
    SharkAPIError,
    SpendCap,
    SpendCapExceededError,
    job_outcome,
)

from ._batch_file import BatchFileError, BatchRequest, iter_batch_file
from ._batch_plan import (
    BatchOptions,
    BatchPlan,
    BatchResult,
    _action,
    _gone,
    _image_on_disk,
    _Lookup,
    _source_stamp,
    adopt_jobs,
    batch_stamp,
    plan_batch,
)
from ._batch_progress import _Display
from ._journal import Journal

__all__ = ["run_batch"]

# Refusals that no retry will change: the request itself is at fault.
_FINAL_SUBMIT_ERRORS = (InvalidRequestError, BadRequestError, ModerationError)
# Refusals that concern the account: every other submit would fail the same way.
_FATAL_SUBMIT_ERRORS = (AuthenticationError, PermissionDeniedError, InsufficientBalanceError)


class _NotSent(Exception):
    """Raised by a submit's ``on_sending`` hook to keep it from being sent."""


# Lines a stopped run counts between two turns of the event loop.
_COUNT_TURN_LINES: Final = 512


class _Runner:
    """The second streaming pass: submits through `iter_generate`, resumes, downloads."""

    def __init__(
        self,
        client: AsyncSharkAPI,
        journal: Journal,
        path: Path,
        default_mode: str,
        plan: BatchPlan,
        result: BatchResult,
        options: BatchOptions,
    ) -> None:
        self.client = client
        self.journal = journal
        self.out = journal.path.parent
        self.path = path
        self.default_mode = default_mode
        self.plan = plan
        self.result = result
        self.options = options
        self.cap = (
            SpendCap(options.max_cost, counted=plan.counted)
            if options.max_cost is not None
            else None
        )
        self.capped: SpendCapExceededError | None = None
        self.slots = asyncio.Semaphore(options.concurrency)
        self.background: set[asyncio.Task[None]] = set()
        # The requests handed to iter_generate and not yet finished, by its index.
        self.in_flight: dict[int, BatchRequest] = {}
        self.display: _Display | None = None
        self.missing_ids: dict[str, str] = {}
        self.lookup = _Lookup(self.journal)

    async def run(self) -> BatchResult:
        self.display = _Display(self.plan.todo, interactive=self.options.interactive)
        try:
            for line in self.result.changed:
                self.display.note(f"line {line}: changed since the last run; a new request")
            for line in self.result.sandbox_gone:
                self.display.note(
                    f"line {line}: its job ran in the --sandbox of an earlier run, which "
                    "stopped with it: the job is gone; submitted again (a sandbox charges nothing)"
                )
            if self.plan.todo:
                self.missing_ids = self.journal.job_ids_of(self.plan.missing_images)
                await self._stream()
        finally:
            self.display.close()
        if self.cap is not None:
            self.result.counted = self.cap.counted
        return self.result

    def _show(self) -> _Display:
        assert self.display is not None
        return self.display

    async def _stream(self) -> None:
        submits = self._submits()
        try:
            async for done in self.client.iter_generate(
                submits,
                concurrency=self.options.concurrency,
                timeout=self.options.timeout,
                spend_cap=self.cap,
            ):
                request = self.in_flight.pop(done.index)
                if isinstance(done.result, JobStatus):
                    await self._download_later(request, done.result)
                else:
                    handed_on = False
                    try:
                        handed_on = await self._ended(request, done.result)
                    finally:
                        if not handed_on:
                            self.slots.release()
            await self._drain()
        except BaseException as exc:
            self._journal_interrupted(exc)
            for task in self.background:
                task.cancel()
            raise
        finally:
            await submits.aclose()

    async def _submits(self) -> AsyncGenerator[Mapping[str, Any]]:
        """The second pass over the file: one `iter_generate` item per request to submit.

        Read lazily (`iter_generate` asks for the next only when a slot is free); jobs
        the journal already holds are resumed on the side, within the same concurrency.
        """
        index = 0
        counted = 0  # lines counted after a stop
        lookup = self.lookup  # made with the runner, after any --adopt was journaled
        for item in iter_batch_file(self.path, self.default_mode):
            if not isinstance(item, BatchRequest):
                continue  # the first pass refused the run if any line was bad
            # (A line edited into a bad one since is refused by generate's own check,
            # before anything is sent, and journaled as failed.)
            request = item
            if self.result.fatal is None and self.capped is None:
                # One turn of the loop first: a result handed out just now (an account
                # refusal, the spend cap) is read before another line is started.
                await asyncio.sleep(0)
            if self.result.fatal is not None or self.capped is not None:
                # Stopped: the rest of the file is only counted, without a loop turn
                # (or a hash) a line, so a stop early in a million lines ends at once;
                # one turn per block of lines lets the submits already on their way go
                # out meanwhile (a run capped at its first submit sent it 0.2 s late
                # behind this count at 100,000 lines).
                if self._todo(request):
                    self.result.pending += 1
                counted += 1
                if counted % _COUNT_TURN_LINES == 0:
                    await asyncio.sleep(0)
                continue
            if lookup.finished(request):
                job_id = self.missing_ids.get(request.key)
                if job_id is not None and _image_on_disk(self.out, request) is None:
                    await self.slots.acquire()
                    await self._resume_later(request, job_id)
                continue
            state = lookup.state(request)
            action = _action(state, self.options, _gone(state, self.options))
            if action == "wait":
                assert state is not None
                assert state.job_id is not None
                await self.slots.acquire()
                await self._resume_later(request, state.job_id)
            elif action == "submit":
                await self.slots.acquire()
                if self.result.fatal is not None or self.capped is not None:
                    self.slots.release()
                    self.result.pending += 1
                    continue
                self.in_flight[index] = request
                self._show().start(request)
                yield self._item(request)
                index += 1

    def _todo(self, request: BatchRequest) -> bool:
        if self.lookup.finished(request):
            return False
        state = self.lookup.state(request)
        return _action(state, self.options, _gone(state, self.options)) in ("submit", "wait")

    def _item(self, request: BatchRequest) -> dict[str, Any]:
        journal = self.journal
        key, line, price = request.key, request.line, f"{request.price:.2f}"

        def on_sending() -> None:
            if self.result.fatal is not None:
                # The account refused another submit meanwhile: this one is not sent.
                raise _NotSent
            # Journaled only now, at the wire: a request still waiting for a connection
            # or for its turn at the rate limit is not "outcome unknown" after a kill.
            # Written, not waited on: nothing runs between this and the send, so a kill
            # finds the record exactly when the request may have gone out (the group
            # commit makes it durable against a power loss a moment later).
            journal.write("intent", key, line=line, price=price)

        def on_submitted(job: Job) -> None:
            self.result.submitted += 1
            journal.write("job", key, job_id=job.job_id)

        item: dict[str, Any] = {
            "prompt": request.prompt,
            "mode": request.mode,
            "on_sending": on_sending,
            "on_submitted": on_submitted,
        }
        if request.image is not None:
            item["image"] = Path(request.image)
        if request.image_strength is not None:
            item["image_strength"] = request.image_strength
        if request.extra_fields:
            item["extra_fields"] = dict(request.extra_fields)
        return item

    async def _resume_later(self, request: BatchRequest, job_id: str) -> None:
        # Called with a slot taken (`_submits`); the task gives it back.
        self._show().start(request)
        self._spawn(self._resume(request, job_id))

    async def _download_later(self, request: BatchRequest, status: JobStatus) -> None:
        # Submitted by this run: no earlier run can have saved its image.
        self._spawn(self._save(request, status, fresh=True))

    def _spawn(self, work: Any) -> None:
        # The slot taken for this line in `_submits` is given back when its work ends:
        # at most `concurrency` lines are submitted, waited on or downloaded at once,
        # and the loop that reads results never blocks (an account refusal is seen at
        # once, before another line starts).
        task = asyncio.ensure_future(work)
        self.background.add(task)

        def finished(task: asyncio.Task[None]) -> None:
            self.background.discard(task)
            self.slots.release()

        task.add_done_callback(finished)

    async def _drain(self) -> None:
        while self.background:
            await asyncio.gather(*list(self.background))

    async def _resume(self, request: BatchRequest, job_id: str) -> None:
        try:
            status = await self.client.wait(job_id, timeout=self.options.timeout)
        except JobError as exc:
            self._fail(request, exc, job_id=job_id, final=True)
            return
        except SharkAPIError as exc:
            # The job exists and may still finish: the next run waits on it again.
            self._fail(request, exc, job_id=job_id, final=False)
            return
        await self._save(request, status)

    async def _ended(self, request: BatchRequest, exc: Exception) -> bool:
        """A request `iter_generate` ended with an error: journal what it means.

        Returns True when its slot went on to a task (a job resumed by its id).
        """
        if isinstance(exc, _NotSent):
            self.result.pending += 1
            self._show().stop(request)
            return False
        if isinstance(exc, SpendCapExceededError):
            # Not sent, not journaled: a rerun with a higher cap submits it.
            if self.capped is None:
                self.capped = exc
                self.result.cap = exc.cap
            self.result.pending += 1
            self._show().stop(request)
            return False
        if not isinstance(exc, SharkAPIError):
            exc = SharkAPIError(f"{type(exc).__name__}: {exc}")
        outcome = job_outcome(exc)
        if outcome.job_id is not None:
            state = self.journal.states.get(request.key)
            if not isinstance(exc, JobError) and (state is None or state.kind == "intent"):
                # A 2xx the SDK could not read: the job exists. Resume it by its id.
                self.result.submitted += 1
                self.journal.write("job", request.key, job_id=outcome.job_id)
                await self._resume_later(request, outcome.job_id)
                return True
            if isinstance(exc, JobError):
                self._fail(request, exc, job_id=outcome.job_id, final=True)
            else:
                # The job exists and may still finish (a timeout, a poll refused): the
                # next run waits on it again.
                self._fail(request, exc, job_id=outcome.job_id, final=False)
            return False
        if outcome.may_exist:
            # The server may have created (and will charge) the job: never resubmit silently.
            self._unknown(request, exc)
            return False
        if isinstance(exc, _FATAL_SUBMIT_ERRORS) and self.result.fatal is None:
            self.result.fatal = exc
        self._fail(request, exc, job_id=None, final=isinstance(exc, _FINAL_SUBMIT_ERRORS))
        return False

    def _journal_interrupted(self, exc: BaseException) -> None:
        """An interrupted run: every job that may exist is journaled (its id when known)."""
        jobs = getattr(exc, "sharkapi_jobs", None) or []
        for index, outcome in jobs:
            request = self.in_flight.get(index)
            if request is None:
                continue
            if outcome.job_id is not None:
                state = self.journal.states.get(request.key)
                if state is None or state.job_id != outcome.job_id:
                    self.journal.write("job", request.key, job_id=outcome.job_id)
            else:
                self.journal.write(
                    "unknown",
                    request.key,
                    reason=type(exc).__name__,
                    message="the run was interrupted while the submit was on the wire",
                )

    def _unknown(self, request: BatchRequest, exc: SharkAPIError) -> None:
        self.journal.write("unknown", request.key, reason=type(exc).__name__, message=str(exc))
        self.result.unknown.append(request.line)
        self._show().finished(request, "unknown", reason=f"{type(exc).__name__}: {exc}")

    async def _save(self, request: BatchRequest, status: JobStatus, *, fresh: bool = False) -> None:
        # A run killed between the download and its journal record does not download
        # it again.
        target = None if fresh else _image_on_disk(self.out, request)
        if target is None:
            try:
                target = await self.client.download(status, self.out / request.file_name)
            except SharkAPIError as exc:
                self._fail(request, exc, job_id=status.job_id, final=False)
                return
            self.result.downloaded += 1
        cost = status.cost if status.cost is not None else status.estimated_cost
        self.journal.write(
            "done",
            request.key,
            job_id=status.job_id,
            path=target.name,
            cost=f"{cost:.2f}",
            price=f"{request.price:.2f}",
        )
        self.result.images += 1
        self.result.finished_here += 1
        self.result.cost += cost
        self.result.cost_here += cost
        self._show().finished(request, "done", cost)

    def _fail(
        self, request: BatchRequest, exc: SharkAPIError, *, job_id: str | None, final: bool
    ) -> None:
        message = " ".join(str(exc).split())
        self.journal.write(
            "failed",
            request.key,
            job_id=job_id,
            reason=type(exc).__name__,
            message=message,
            final=final,
        )
        reason = f"{type(exc).__name__}: {message}"
        self.result.failures[type(exc).__name__] += 1
        self.result.failed_lines[request.line] = reason
        self.result.failed_here += 1
        if final:
            self.result.retryable.append(request.line)
        self._show().finished(request, "failed", reason=reason)


async def run_batch(
    client: AsyncSharkAPI,
    path: Path,
    out: Path,
    default_mode: str,
    options: BatchOptions,
    *,
    plan: tuple[BatchPlan, BatchResult, object] | None = None,
) -> BatchResult:
    """Run (or resume) a batch, journaling every step in ``out``.

    Args:
        client: The client to use.
        path: The batch file (read twice, streaming: checked, then run).
        out: The output directory, which holds the journal.
        default_mode: The mode of lines that do not name one.
        options: How to run it.
        plan: `plan_batch`'s answer from a read-only journal, with the `batch_stamp`
            taken before it: reused when neither the file nor the journal changed since
            (else the plan is made again over the locked journal).

    Returns:
        The result over the whole journal.

    Raises:
        BatchFileError: Lines are invalid (every one is named); nothing was submitted.
        BatchError: The batch cannot start as asked (``--adopt`` of the wrong line...).
    """
    journal = Journal(
        out,
        replayed=plan[0].journal if plan is not None else None,
        unchanged=lambda: plan is not None and plan[2] == batch_stamp(path, out),
    )
    try:
        if plan is not None and journal.reused:
            made, result = plan[0], plan[1]
        else:
            made, result = plan_batch(path, default_mode, journal, options)
        if made.invalid:
            raise BatchFileError(path, sorted(made.invalid))
        if options.adopt:
            adopt_jobs(journal, made.adopt, options.adopt)
            made, result = plan_batch(path, default_mode, journal, options)
        if options.sandbox != journal.sandbox_run:
            journal.write("run", None, sandbox=options.sandbox)
        # The file is named as finished only at the end, when every line has its image:
        # an edited line is "finished" as its old request, so a run stopped (by the cap)
        # before the new one must not leave the journal saying so.
        source = {**_source_stamp(path), "requests": made.requests}
        journal.source = None
        runner = _Runner(client, journal, path, default_mode, made, result, options)
        result = await runner.run()
        if result.images == result.total == made.requests:
            # Kept in the journal's compacted record, so a rerun of an unchanged,
            # finished batch need not read the file again (`_plan_finished`).
            journal.source = {**source, "list_price": str(made.list_price)}
        return result
    finally:
        try:
            await journal.durable()
        finally:
            journal.close()
