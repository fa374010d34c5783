"""`sharkapi batch`: many prompts, a crash-safe journal, and resume without resubmitting."""

from __future__ import annotations

import asyncio
import codecs
import json
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sharkapi_spec import GENERATE_REQUEST_FIELDS

from sharkapi_ext import (
    IMAGE_EXTENSIONS,
    KEYWORD_FIELDS,
    AsyncSharkAPI,
    AuthenticationError,
    BadRequestError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidRequestError,
    JobError,
    JobStatus,
    ModerationError,
    PermissionDeniedError,
    SharkAPIError,
    SubmissionOutcomeUnknownError,
    UnexpectedResponseError,
)

from ._journal import Journal, KeyState, request_key

__all__ = [
    "BatchFileError",
    "BatchRequest",
    "BatchResult",
    "parse_batch_file",
    "read_batch_file",
    "run_batch",
    "validate_requests",
]

# Refusals that no retry will change: the request itself is at fault.
_FINAL_SUBMIT_ERRORS = (InvalidRequestError, BadRequestError, ModerationError)
# Refusals that concern the account: every other submit would fail the same way.
_FATAL_SUBMIT_ERRORS = (AuthenticationError, PermissionDeniedError, InsufficientBalanceError)


@dataclass(frozen=True)
class BatchRequest:
    """One line of the batch file.

    Attributes:
        line: Its 1-based line number.
        prompt: The prompt.
        mode: One of the spec's modes (checked by the client).
        image: A source image path, or None.
        image_strength: The source's weight, or None.
        key: The journal key (line number and hash of the above).
        extra_fields: The line's other request fields the spec declares.
    """

    line: int
    prompt: str
    mode: str
    image: str | None
    image_strength: float | None
    key: str
    extra_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        """The image's file name: line number and request hash, stable across runs."""
        return f"{self.line:05d}-{self.key.rsplit('-', 1)[1][:8]}.png"


class BatchFileError(click.UsageError):
    """The batch file has lines that cannot be read as requests; nothing was submitted.

    Attributes:
        problems: Each bad line's number and reason, in file order (every bad line,
            not only the first).
    """

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{path}:{line}: {reason}" for line, reason in problems))


_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    r"""Each line's 1-based number and text, or None for a line that is not UTF-8.

    Only ``\n`` and ``\r\n`` end a line. `str.splitlines` and text-mode reading would
    also split at ``\r``, U+2028, U+0085, form feeds and other separators that may sit
    inside a prompt, turning one paid request into two. A byte-order mark (Notepad,
    PowerShell's ``Out-File -Encoding utf8``) is not part of the first line.
    """
    data = path.read_bytes()
    if data.startswith(_UTF16_BOMS):
        # PowerShell 5's ``>`` and ``Out-File`` write UTF-16 with a BOM.
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            yield 1, None  # a damaged file: said once, not once per line
            return
        for number, line in enumerate(text.split("\n"), start=1):
            yield number, line.removesuffix("\r")
        return
    # UTF-8 never has the byte 0x0A inside a character, so splitting the bytes is safe,
    # and a line that is not UTF-8 is reported alone, with the file's other bad lines.
    for number, chunk in enumerate(data.removeprefix(codecs.BOM_UTF8).split(b"\n"), start=1):
        try:
            yield number, chunk.removesuffix(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def _parse_line(text: str, default_mode: str) -> dict[str, Any]:
    """The request fields of one non-blank line; ValueError names what is wrong."""
    if not text.startswith("{"):
        return {"prompt": text, "mode": default_mode, "image": None, "image_strength": None}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    unknown = set(data) - set(GENERATE_REQUEST_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown fields {sorted(unknown)}; the API's request fields are "
            f"{list(GENERATE_REQUEST_FIELDS)}"
        )
    if not isinstance(data.get("prompt"), str):
        raise ValueError("'prompt' must be a string")
    fields: dict[str, Any] = {
        "prompt": data["prompt"],
        "mode": data.get("mode", default_mode),
        "image": data.get("image"),
        "image_strength": data.get("image_strength"),
    }
    extra = {k: v for k, v in data.items() if k not in KEYWORD_FIELDS}
    if extra:
        # Only lines with extra fields hash them: older journals keep their keys.
        fields["extra_fields"] = extra
    return fields


def read_batch_file(
    path: Path, default_mode: str
) -> tuple[list[BatchRequest], list[tuple[int, str]]]:
    """Read a batch file, keeping every line that cannot be read instead of stopping.

    Args:
        path: The file.
        default_mode: The mode of requests that do not name one.

    Returns:
        The requests in file order, and each unreadable line's number and reason.

    Raises:
        click.UsageError: The file holds no request line at all.
    """
    requests: list[BatchRequest] = []
    problems: list[tuple[int, str]] = []
    for number, raw in _lines(path):
        if raw is None:
            problems.append((number, "not UTF-8 text (save the file as UTF-8)"))
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            fields = _parse_line(stripped, default_mode)
        except ValueError as exc:
            problems.append((number, str(exc)))
            continue
        key = request_key(number, fields)
        requests.append(BatchRequest(line=number, key=key, **fields))
    if not requests and not problems:
        raise click.UsageError(
            f"{path} holds no prompts (blank lines and lines starting with # are skipped)"
        )
    return requests, problems


def parse_batch_file(path: Path, default_mode: str) -> list[BatchRequest]:
    r"""Read a batch file: one prompt per line, or JSON objects with per-request options.

    Blank lines and lines starting with ``#`` are skipped (line numbers still count).
    Only ``\n`` and ``\r\n`` end a line, and a leading byte-order mark is ignored.

    Args:
        path: The file.
        default_mode: The mode of requests that do not name one.

    Returns:
        The requests, in file order.

    Raises:
        BatchFileError: Lines are malformed (every one of them is named).
        click.UsageError: The file holds no request. Nothing is submitted then.
    """
    requests, problems = read_batch_file(path, default_mode)
    if problems:
        raise BatchFileError(path, problems)
    return requests


def validate_requests(requests: list[BatchRequest]) -> list[tuple[BatchRequest, str]]:
    """Check every request as `submit` would, before anything is journaled or sent.

    Args:
        requests: The parsed batch file.

    Returns:
        Each invalid request with its reason (``InvalidRequestError: field: limit``);
        empty when every line may be submitted.
    """
    # The client's own checks (spec-driven), so the CLI cannot drift from what submit
    # accepts. Image files are checked (size, PNG/JPEG) but not read into memory.
    from sharkapi_ext._validation import validate_generate

    invalid: list[tuple[BatchRequest, str]] = []
    for request in requests:
        image = Path(request.image) if isinstance(request.image, str) else request.image
        try:
            validate_generate(
                request.prompt,
                request.mode,
                image,
                request.image_strength,
                request.extra_fields or None,
            )
        except InvalidRequestError as exc:
            invalid.append((request, f"{type(exc).__name__}: {exc}"))
    return invalid


@dataclass
class BatchResult:
    """What the batch ended with, over every run that shares the journal, and this run's part.

    Attributes:
        total: Requests in the file.
        images: Requests with their image on disk.
        downloaded: Images downloaded by this run.
        submitted: Jobs submitted by this run.
        finished_here: Requests this run brought to their image.
        finished_before: Requests earlier runs had already finished (image on disk).
        failures: Failed requests by reason (exception name), all runs.
        failed_lines: Line number to ``ErrorName: message`` of every failed request.
        failed_here: Requests that failed in this run.
        unknown: Line numbers whose submission outcome is unknown.
        pending: Requests not finished (stopped early, or waiting to be retried).
        changed: Line numbers whose text changed since an earlier run (new requests now).
        cost: Total cost of the finished jobs in the journal, all runs (lines edited
            since included).
        cost_here: Cost of the jobs this run saw finish.
        fatal: The account-level error that stopped new submissions, if any.
    """

    total: int = 0
    images: int = 0
    downloaded: int = 0
    submitted: int = 0
    finished_here: int = 0
    finished_before: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    failed_lines: dict[int, str] = field(default_factory=dict)
    failed_here: int = 0
    unknown: list[int] = field(default_factory=list)
    pending: int = 0
    changed: list[int] = field(default_factory=list)
    cost: Decimal = Decimal("0.00")
    cost_here: Decimal = Decimal("0.00")
    fatal: SharkAPIError | None = None


class _Display:
    """The progress bar on a terminal; one plain line per finished request otherwise.

    It counts only this run's work: requests finished by earlier runs are summed up once.
    """

    def __init__(self, total: int, *, interactive: bool) -> None:
        self.done = 0
        self.failed = 0
        self.unknown = 0
        self.spend = Decimal("0.00")
        self._in_flight: set[int] = set()
        self._progress: Progress | None = None
        self._console = Console(stderr=True)
        if interactive:
            self._progress = Progress(
                TextColumn("[bold]batch"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self._console,
                refresh_per_second=8,
            )
            self._task = self._progress.add_task("batch", total=total, counts="")
            self._progress.start()
        self._refresh()

    def _counts(self) -> str:
        text = f"done {self.done}  failed {self.failed}  in flight {len(self._in_flight)}"
        if self.unknown:
            text += f"  unknown {self.unknown}"
        return f"{text}  spent ${self.spend:.2f}"

    def _refresh(self) -> None:
        if self._progress is not None:
            finished = self.done + self.failed + self.unknown
            self._progress.update(self._task, completed=finished, counts=self._counts())

    def note(self, text: str) -> None:
        """Print one line above the bar (or plainly)."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr)

    def start(self, request: BatchRequest) -> None:
        self._in_flight.add(request.line)
        self._refresh()

    def stop(self, request: BatchRequest) -> None:
        self._in_flight.discard(request.line)
        self._refresh()

    def finished(
        self,
        request: BatchRequest,
        outcome: str,
        cost: Decimal | None = None,
        reason: str | None = None,
    ) -> None:
        # Leaves the in-flight set first, so the line printed now has the right counts.
        self._in_flight.discard(request.line)
        if outcome == "done":
            self.done += 1
            self.spend += cost or 0
        elif outcome == "unknown":
            self.unknown += 1
        else:
            self.failed += 1
        self._refresh()
        detail = f" - {reason}" if reason else ""
        if self._progress is None:
            self.note(f"line {request.line}: {outcome}{detail} ({self._counts()})")
        elif reason:
            self.note(f"line {request.line}: {outcome}{detail}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _changed_lines(journal: Journal, requests: list[BatchRequest]) -> list[int]:
    """Lines the journal knows under another key: their text changed since an earlier run."""
    current = {request.key for request in requests}
    lines = {request.line for request in requests}
    changed = set()
    for key in journal.states:
        if key in current:
            continue
        line = key.partition("-")[0].removeprefix("L")
        if line.isdigit() and int(line) in lines:
            changed.add(int(line))
    return sorted(changed)


class _Runner:
    def __init__(
        self,
        client: AsyncSharkAPI,
        journal: Journal,
        out: Path,
        *,
        concurrency: int,
        timeout: float,
        resubmit_unknown: bool,
        interactive: bool,
    ) -> None:
        self.client = client
        self.journal = journal
        self.out = out
        self.gate = asyncio.Semaphore(concurrency)
        self.timeout = timeout
        self.resubmit_unknown = resubmit_unknown
        self.interactive = interactive
        self.result = BatchResult()
        self.display: _Display | None = None

    async def run(self, requests: list[BatchRequest]) -> BatchResult:
        self.result.total = len(requests)
        self.result.changed = _changed_lines(self.journal, requests)
        current = {request.key for request in requests}
        for key, state in self.journal.states.items():
            # Jobs of lines edited since were paid for too: "all runs" includes them.
            if key not in current and state.kind == "done":
                self.result.cost += Decimal(state.cost or "0")
        # Earlier runs' outcomes are counted first, so the bar (and its ETA) covers only
        # the work this run does.
        todo = [request for request in requests if not self._settled(request)]
        self.display = _Display(len(todo), interactive=self.interactive)
        try:
            for line in self.result.changed:
                self.display.note(f"line {line}: changed since the last run; a new request")
            await asyncio.gather(*(self.one(request) for request in todo))
        finally:
            self.display.close()
        return self.result

    def _show(self) -> _Display:
        assert self.display is not None
        return self.display

    async def one(self, request: BatchRequest) -> None:
        state = self.journal.states.get(request.key)
        async with self.gate:
            self._show().start(request)
            try:
                await self._work(request, state)
            finally:
                self._show().stop(request)

    def _settled(self, request: BatchRequest) -> bool:
        """Account for a request the journal already closed; False if work remains."""
        state = self.journal.states.get(request.key)
        if state is None:
            return False
        if state.kind == "done" and state.path and (self.out / state.path).is_file():
            self.result.images += 1
            self.result.finished_before += 1
            self.result.cost += Decimal(state.cost or "0")
            return True
        if state.kind == "failed" and state.final:
            reason = state.reason or "Error"
            self.result.failures[reason] += 1
            self.result.failed_lines[request.line] = f"{reason}: {state.message or ''}".strip()
            return True
        if state.kind in ("intent", "unknown") and not self.resubmit_unknown:
            self.result.unknown.append(request.line)
            return True
        return False

    async def _work(self, request: BatchRequest, state: KeyState | None) -> None:
        job_id = state.job_id if state is not None else None
        if job_id is None:
            job_id = await self._submit(request)
            if job_id is None:
                return
        try:
            status = await self.client.wait(job_id, timeout=self.timeout)
        except JobError as exc:
            self._fail(request, exc, job_id=job_id, final=True)
            return
        except SharkAPIError as exc:
            # The job exists and may still finish: the next run waits on it again.
            self._fail(request, exc, job_id=job_id, final=False)
            return
        await self._save(request, status)

    def _unknown(self, request: BatchRequest, exc: SharkAPIError) -> None:
        self.journal.write("unknown", request.key, reason=type(exc).__name__, message=str(exc))
        self.result.unknown.append(request.line)
        self._show().finished(request, "unknown", reason=f"{type(exc).__name__}: {exc}")

    async def _submit(self, request: BatchRequest) -> str | None:
        if self.result.fatal is not None:
            self.result.pending += 1
            return None
        self.journal.write("intent", request.key, line=request.line)
        try:
            job = await self.client.submit(
                request.prompt,
                mode=request.mode,
                image=Path(request.image) if request.image else None,
                image_strength=request.image_strength,
                extra_fields=request.extra_fields or None,
            )
        except UnexpectedResponseError as exc:
            # A 2xx the SDK could not read: the job exists. Resume it if its id came through.
            self.result.submitted += 1
            if exc.job_id:
                self.journal.write("job", request.key, job_id=exc.job_id)
                return exc.job_id
            self._unknown(request, exc)
            return None
        except (SubmissionOutcomeUnknownError, InternalServerError) as exc:
            # The server may have created (and will charge) the job: never resubmit silently.
            self._unknown(request, exc)
            return None
        except _FATAL_SUBMIT_ERRORS as exc:
            if self.result.fatal is None:
                self.result.fatal = exc
            self._fail(request, exc, job_id=None, final=False)
            return None
        except SharkAPIError as exc:
            self._fail(request, exc, job_id=None, final=isinstance(exc, _FINAL_SUBMIT_ERRORS))
            return None
        self.result.submitted += 1
        self.journal.write("job", request.key, job_id=job.job_id)
        return job.job_id

    async def _save(self, request: BatchRequest, status: JobStatus) -> None:
        target = self.out / request.file_name
        # The SDK writes atomically, so a file that exists is complete: a run killed
        # between the download and its journal record does not download it again. Its
        # extension follows the content (a JPEG is saved as .jpg).
        saved = [
            path
            for path in (target.with_suffix(ext) for ext in IMAGE_EXTENSIONS.values())
            if path.is_file()
        ]
        if saved:
            target = saved[0]
        else:
            try:
                target = await self.client.download(status, target)
            except SharkAPIError as exc:
                self._fail(request, exc, job_id=status.job_id, final=False)
                return
            self.result.downloaded += 1
        cost = status.cost if status.cost is not None else status.estimated_cost
        self.journal.write(
            "done", request.key, job_id=status.job_id, path=target.name, cost=f"{cost:.2f}"
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
        self._show().finished(request, "failed", reason=reason)


def _adoptable(state: KeyState | None) -> bool:
    """Whether ``--adopt`` may record a job id for a request in this state."""
    if state is None:
        return False
    if state.kind in ("intent", "unknown"):
        return True  # the submit's outcome is unknown: the user found its job
    if state.kind == "failed" and state.reason == "NotFoundError":
        return True  # the recorded job does not exist (a mistyped adoption): correct it
    # An adopted job not waited on yet (the run stopped first) may be corrected too.
    return state.kind == "job" and state.adopted


def adopt_jobs(journal: Journal, requests: list[BatchRequest], adopt: dict[int, str]) -> None:
    """Record job ids the user found for requests whose outcome was unknown.

    A line may also be adopted again when its recorded job was not found (404), or was
    adopted and not yet waited on: that is how a mistyped ``--adopt`` is corrected.

    Args:
        journal: The batch's journal.
        requests: The batch's requests.
        adopt: Line number to job id (ids already checked against the spec's pattern).

    Raises:
        click.UsageError: A line is not in the batch or its outcome is not unknown;
            nothing is journaled then.
    """
    by_line = {request.line: request for request in requests}
    # Every line is checked before any is journaled: a refusal leaves the journal as it was.
    for line in adopt:
        request = by_line.get(line)
        if request is None:
            raise click.UsageError(f"--adopt: line {line} is not a request of this batch")
        state = journal.states.get(request.key)
        if not _adoptable(state):
            kind = state.kind if state else "never submitted"
            if state is not None and state.job_id:
                kind += f", job {state.job_id}"
            raise click.UsageError(f"--adopt: line {line} is not outcome-unknown ({kind})")
    for line, job_id in adopt.items():
        journal.write("job", by_line[line].key, job_id=job_id, adopted=True)


async def run_batch(
    client: AsyncSharkAPI,
    requests: list[BatchRequest],
    out: Path,
    *,
    concurrency: int,
    timeout: float,
    resubmit_unknown: bool,
    adopt: dict[int, str],
    interactive: bool,
) -> BatchResult:
    """Run (or resume) a batch, journaling every step in ``out``.

    Args:
        client: The client to use.
        requests: The parsed batch file.
        out: The output directory, which holds the journal.
        concurrency: Requests in flight at once.
        timeout: Each job's wait deadline, in seconds.
        resubmit_unknown: Submit again the requests whose outcome is unknown.
        adopt: Job ids to record for outcome-unknown requests (line number to job id).
        interactive: Draw a progress bar.

    Returns:
        The result over the whole journal.
    """
    journal = Journal(out)
    try:
        adopt_jobs(journal, requests, adopt)
        runner = _Runner(
            client,
            journal,
            out,
            concurrency=concurrency,
            timeout=timeout,
            resubmit_unknown=resubmit_unknown,
            interactive=interactive,
        )
        return await runner.run(requests)
    finally:
        journal.close()
