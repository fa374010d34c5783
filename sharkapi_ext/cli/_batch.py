"""`sharkapi batch`: many prompts, a crash-safe journal, and resume without resubmitting.

The plan and the runner, apart from the command line (no click here): `plan_batch`
reads the file once, streaming, and checks every line as `submit` would before anything
is paid; `run_batch` reads it a second time, streaming, and feeds what is left to do to
`AsyncSharkAPI.iter_generate`. Neither holds the file, a task per line or a record per
finished line, so memory does not grow with the number of lines.
"""

from __future__ import annotations

import asyncio
import codecs
import io
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncGenerator, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sharkapi_spec import GENERATE_REQUEST_FIELDS, MODE_PRICES

from sharkapi_ext import (
    IMAGE_EXTENSIONS,
    KEYWORD_FIELDS,
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
    check_generate_request,
    job_outcome,
)

from ._journal import JOURNAL_NAME, Journal, KeyState, request_key

__all__ = [
    "BatchError",
    "BatchFileError",
    "BatchPlan",
    "BatchRequest",
    "BatchResult",
    "adopt_jobs",
    "batch_stamp",
    "iter_batch_file",
    "parse_batch_file",
    "plan_batch",
    "read_batch_file",
    "run_batch",
    "validate_requests",
]

# Refusals that no retry will change: the request itself is at fault.
_FINAL_SUBMIT_ERRORS = (InvalidRequestError, BadRequestError, ModerationError)
# Refusals that concern the account: every other submit would fail the same way.
_FATAL_SUBMIT_ERRORS = (AuthenticationError, PermissionDeniedError, InsufficientBalanceError)


class BatchError(Exception):
    """A batch cannot start as asked (the command line shows it as a usage error).

    Attributes:
        message: What is wrong.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)  # not frozen: a frozen dataclass is slower to make, per line
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

    @property
    def price(self) -> Decimal:
        """The list price of its mode (zero for a mode the spec does not price)."""
        return MODE_PRICES.get(self.mode, Decimal(0))


class BatchFileError(BatchError):
    """The batch file has lines that cannot be read as requests; nothing was submitted.

    Attributes:
        problems: Each bad line's number and reason, in file order (every bad line,
            not only the first).
    """

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        self.message = "\n".join(f"{path}:{line}: {reason}" for line, reason in problems)
        super().__init__(self.message)


_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    r"""Each line's 1-based number and text, or None for a line that is not UTF-8.

    Read as a stream: the file is never held whole. Only ``\n`` and ``\r\n`` end a
    line. `str.splitlines` and text-mode reading would also split at ``\r``, U+2028,
    U+0085, form feeds and other separators that may sit inside a prompt, turning one
    paid request into two. A byte-order mark (Notepad, PowerShell's ``Out-File
    -Encoding utf8``) is not part of the first line.
    """
    with open(path, "rb") as file:
        head = file.read(2)
        file.seek(0)
        if head in _UTF16_BOMS:
            # PowerShell 5's ``>`` and ``Out-File`` write UTF-16 with a BOM.
            text = io.TextIOWrapper(file, encoding="utf-16", newline="\n")
            number = 0
            try:
                for number, line in enumerate(text, start=1):
                    yield number, line.removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError:
                yield number + 1, None  # a damaged file: said once, not once per line
            return
        # Binary lines end at b"\n" only; UTF-8 never has the byte 0x0A inside a
        # character, so a line that is not UTF-8 is reported alone.
        for number, chunk in enumerate(file, start=1):
            if number == 1:
                chunk = chunk.removeprefix(codecs.BOM_UTF8)
            try:
                yield number, chunk.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8")
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


def iter_batch_file(path: Path, default_mode: str) -> Iterator[BatchRequest | tuple[int, str]]:
    """Stream a batch file: each request, or ``(line, reason)`` for a line that is not one.

    Blank lines and lines starting with ``#`` are skipped (line numbers still count).

    Args:
        path: The file.
        default_mode: The mode of requests that do not name one.

    Yields:
        A `BatchRequest` per request line, in file order, or a problem.
    """
    for number, raw in _lines(path):
        if raw is None:
            yield number, "not UTF-8 text (save the file as UTF-8)"
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            fields = _parse_line(stripped, default_mode)
        except ValueError as exc:
            yield number, str(exc)
            continue
        yield BatchRequest(line=number, key=request_key(number, fields), **fields)


def read_batch_file(
    path: Path, default_mode: str
) -> tuple[list[BatchRequest], list[tuple[int, str]]]:
    """Read a whole batch file into a list (small files, tests); `plan_batch` streams.

    Args:
        path: The file.
        default_mode: The mode of requests that do not name one.

    Returns:
        The requests in file order, and each unreadable line's number and reason.

    Raises:
        BatchError: The file holds no request line at all.
    """
    requests: list[BatchRequest] = []
    problems: list[tuple[int, str]] = []
    for item in iter_batch_file(path, default_mode):
        if isinstance(item, BatchRequest):
            requests.append(item)
        else:
            problems.append(item)
    if not requests and not problems:
        raise BatchError(_no_prompts(path))
    return requests, problems


def _no_prompts(path: Path) -> str:
    return f"{path} holds no prompts (blank lines and lines starting with # are skipped)"


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
        BatchError: The file holds no request. Nothing is submitted then.
    """
    requests, problems = read_batch_file(path, default_mode)
    if problems:
        raise BatchFileError(path, problems)
    return requests


def _check(request: BatchRequest) -> str | None:
    """Why `submit` would refuse the request (``InvalidRequestError: ...``), or None."""
    try:
        # The client's own checks (spec-driven), so the CLI cannot drift from what submit
        # accepts. Image files are checked (size, PNG/JPEG) but not kept in memory.
        check_generate_request(
            request.prompt,
            mode=request.mode,
            image=Path(request.image) if isinstance(request.image, str) else request.image,
            image_strength=request.image_strength,
            extra_fields=request.extra_fields or None,
        )
    except InvalidRequestError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def validate_requests(requests: list[BatchRequest]) -> list[tuple[BatchRequest, str]]:
    """Check every request as `submit` would, before anything is journaled or sent.

    Args:
        requests: The parsed batch file.

    Returns:
        Each invalid request with its reason (``InvalidRequestError: field: limit``);
        empty when every line may be submitted.
    """
    return [(r, reason) for r in requests if (reason := _check(r)) is not None]


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
        retryable: Lines that failed for good (failed, moderated, refused) and that
            ``--retry-failed`` would submit again.
        unknown: Line numbers whose submission outcome is unknown.
        pending: Requests not finished (stopped early, or waiting to be retried).
        changed: Line numbers whose text changed since an earlier run (new requests now).
        sandbox_gone: Lines whose job ran in an earlier run's in-process sandbox, which
            is gone with it (submitted again).
        cost: Total cost of the finished jobs in the journal, all runs (lines edited
            since included).
        cost_here: Cost of the jobs this run saw finish.
        fatal: The account-level error that stopped new submissions, if any.
        cap: The spend cap that stopped new submissions, if it did.
        counted: The spend counted against the cap (all runs), when there is a cap.
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
    retryable: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    pending: int = 0
    changed: list[int] = field(default_factory=list)
    sandbox_gone: list[int] = field(default_factory=list)
    cost: Decimal = Decimal("0.00")
    cost_here: Decimal = Decimal("0.00")
    fatal: SharkAPIError | None = None
    cap: Decimal | None = None
    counted: Decimal | None = None


@dataclass
class BatchPlan:
    """What a streaming pass over the file found, before anything is paid.

    Attributes:
        requests: Request lines in the file.
        list_price: Their summed list price.
        invalid: Each line that cannot be submitted, with its reason (all of them).
        todo: Requests this run would submit or wait for.
        todo_price: The list price of those it would submit.
        counted: What the journal already holds as submitted, at its worst case.
        adopt: The requests of the lines given to ``--adopt``.
        missing_images: Keys of finished requests whose image file is gone.
        journal: The journal the plan was made from (`run_batch` takes its replayed
            state over when neither file changed since).
    """

    requests: int = 0
    list_price: Decimal = Decimal("0.00")
    invalid: list[tuple[int, str]] = field(default_factory=list)
    todo: int = 0
    todo_price: Decimal = Decimal("0.00")
    counted: Decimal = Decimal("0.00")
    adopt: dict[int, BatchRequest] = field(default_factory=dict)
    missing_images: set[str] = field(default_factory=set)
    journal: Journal | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch.

    Attributes:
        concurrency: Requests in flight at once.
        timeout: Each job's wait deadline, in seconds.
        resubmit_unknown: Submit again the requests whose outcome is unknown.
        retry_failed: Submit again the requests that failed for good.
        adopt: Job ids to record for outcome-unknown requests (line number to job id).
        max_cost: A spend cap in dollars over every run of the journal, or None.
        sandbox: The client talks to an in-process sandbox that ends with this run.
        interactive: Draw a progress bar.
    """

    concurrency: int = 8
    timeout: float = 600.0
    resubmit_unknown: bool = False
    retry_failed: bool = False
    adopt: Mapping[int, str] = field(default_factory=dict)
    max_cost: Decimal | None = None
    sandbox: bool = False
    interactive: bool = False


_EXTENSIONS: Final = tuple(dict.fromkeys(IMAGE_EXTENSIONS.values()))


def _image_on_disk(out: Path | str, request: BatchRequest) -> Path | None:
    """The request's image file, if a run saved it."""
    found = _saved_image(f"{os.fspath(out)}{os.sep}{request.file_name[:-4]}")
    return None if found is None else Path(found)


def _saved_image(base: str) -> str | None:
    # The SDK writes atomically, so a file that exists is complete. Its extension
    # follows the content (a JPEG is saved as .jpg). Plain strings and os.path: a rerun
    # asks this once per line, and pathlib costs several times more per call.
    for ext in _EXTENSIONS:
        if os.path.isfile(base + ext):
            return base + ext
    return None


def _source_stamp(path: Path) -> dict[str, int]:
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "inode": info.st_ino}


def _plan_finished(
    path: Path, journal: Journal, options: BatchOptions
) -> tuple[BatchPlan, BatchResult] | None:
    """A rerun of a finished batch whose file is unchanged: no line to read again.

    The journal's compacted record names the file it finished (size, time, inode) and
    every line's key; when those still hold and every image is on disk, the plan is
    the journal's, at the cost of one ``stat`` per image.
    """
    source = journal.source
    if (
        source is None
        or journal.states
        or options.adopt
        or source.get("requests") != len(journal.done)
        or {k: source.get(k) for k in ("size", "mtime_ns", "inode")} != _source_stamp(path)
    ):
        return None
    # One listing of the directory rather than a stat per image (several times faster);
    # PNG is what the API sends, so only the images not found as PNG are looked up again.
    names = set(os.listdir(journal.path.parent))
    others = [
        stem
        for line, digest in journal.done.items()
        if (stem := f"{line:05d}-{digest >> 16:08x}") + ".png" not in names
    ]
    for stem in others:
        if not any(stem + ext in names for ext in _EXTENSIONS):
            return None  # an image is gone: the full pass finds its job to download again
    del names, others
    plan = BatchPlan(
        requests=len(journal.done),
        list_price=Decimal(str(source.get("list_price", "0"))),
        counted=journal.done_counted,
    )
    result = BatchResult(
        total=plan.requests,
        images=plan.requests,
        finished_before=plan.requests,
        cost=journal.done_cost,
    )
    return plan, result


def _action(state: KeyState | None, options: BatchOptions, gone: bool) -> str:
    """What this run does with a request the journal is not finished with.

    One of ``submit``, ``wait``, ``report-failed``, ``report-unknown``.
    """
    if state is None or gone:
        return "submit"
    if state.kind == "failed" and state.final:
        return "submit" if options.retry_failed else "report-failed"
    if state.kind in ("intent", "unknown"):
        return "submit" if options.resubmit_unknown else "report-unknown"
    if state.job_id is not None:
        return "wait"
    return "submit"  # refused before any job was created (402, 429, 503...): again


def _gone(state: KeyState | None, options: BatchOptions) -> bool:
    """Its job ran in an earlier run's in-process sandbox, gone with that run."""
    return state is not None and state.sandbox and state.kind != "failed"


def _counted(state: KeyState, request_price: Decimal) -> Decimal:
    """What a journaled request counts against a spend cap (worst case; SpendCap's rules)."""
    if state.kind == "failed" and state.job_id is None:
        return Decimal(0)  # refused before a job was created: nothing to pay
    if state.sandbox:
        return Decimal(0)  # the sandbox charges nothing
    return Decimal(state.price) if state.price else request_price


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


def plan_batch(
    path: Path, default_mode: str, journal: Journal, options: BatchOptions
) -> tuple[BatchPlan, BatchResult]:
    """The first streaming pass: check every line, and account for what earlier runs did.

    Nothing is sent and nothing is written. Holds only what it reports (bad lines, failed
    and unknown lines), never the file.

    Args:
        path: The batch file.
        default_mode: The mode of lines that do not name one.
        journal: The batch's journal (may be read-only).
        options: How the run would go.

    Returns:
        The plan (``plan.invalid`` lists every bad line: then nothing may be submitted),
        and the result so far: what earlier runs finished, failed or left unknown.

    Raises:
        BatchError: The file holds no request line at all.
    """
    finished = _plan_finished(path, journal, options)
    if finished is not None:
        finished[0].journal = journal
        return finished
    plan = BatchPlan(journal=journal)
    result = BatchResult()
    seen_lines = 0
    out = str(journal.path.parent)
    for item in iter_batch_file(path, default_mode):
        if not isinstance(item, BatchRequest):
            plan.invalid.append(item)
            continue
        request = item
        seen_lines += 1
        price = request.price
        if journal.is_done(request.key, request.line):
            # Checked when it was submitted (the key is a hash of the whole request).
            plan.requests += 1
            plan.list_price += price
            if request.line in options.adopt:
                plan.adopt[request.line] = request
            if _image_on_disk(out, request) is not None:
                result.images += 1
                result.finished_before += 1
            else:
                plan.missing_images.add(request.key)
                plan.todo += 1
            continue
        reason = _check(request)
        if reason is not None:
            plan.invalid.append((request.line, reason))
            continue
        plan.requests += 1
        plan.list_price += price
        if request.line in options.adopt:
            plan.adopt[request.line] = request
        done_hash = journal.done.get(request.line)
        if done_hash is not None:
            result.changed.append(request.line)
        state = journal.states.get(request.key)
        gone = _gone(state, options)
        if state is not None:
            plan.counted += _counted(state, price) if not gone else Decimal(0)
            if gone:
                result.sandbox_gone.append(request.line)
        action = _action(state, options, gone)
        if action == "report-failed":
            assert state is not None
            name = state.reason or "Error"
            result.failures[name] += 1
            result.failed_lines[request.line] = f"{name}: {state.message or ''}".strip()
            result.retryable.append(request.line)
        elif action == "report-unknown" and request.line not in options.adopt:
            result.unknown.append(request.line)
        else:
            plan.todo += 1
            if action == "submit":
                plan.todo_price += price
    if seen_lines == 0 and not plan.invalid:
        raise BatchError(_no_prompts(path))
    # Lines edited since: their old keys (other hash, same line) were new requests then.
    plan.counted += journal.done_counted
    result.cost = journal.done_cost
    result.total = plan.requests
    return plan, result


def adopt_jobs(
    journal: Journal, by_line: Mapping[int, BatchRequest], adopt: Mapping[int, str]
) -> None:
    """Record job ids the user found for requests whose outcome was unknown.

    A line may also be adopted again when its recorded job was not found (404), or was
    adopted and not yet waited on: that is how a mistyped ``--adopt`` is corrected.

    Args:
        journal: The batch's journal.
        by_line: The requests of the adopted lines (from `plan_batch`).
        adopt: Line number to job id (ids already checked against the spec's pattern).

    Raises:
        BatchError: A line is not in the batch or its outcome is not unknown;
            nothing is journaled then.
    """
    # Every line is checked before any is journaled: a refusal leaves the journal as it was.
    for line in adopt:
        request = by_line.get(line)
        if request is None:
            raise BatchError(f"--adopt: line {line} is not a request of this batch")
        state = journal.states.get(request.key)
        if journal.is_done(request.key):
            raise BatchError(f"--adopt: line {line} is not outcome-unknown (done)")
        if not _adoptable(state):
            kind = state.kind if state else "never submitted"
            if state is not None and state.job_id:
                kind += f", job {state.job_id}"
            raise BatchError(f"--adopt: line {line} is not outcome-unknown ({kind})")
    for line, job_id in adopt.items():
        journal.write("job", by_line[line].key, job_id=job_id, adopted=True)


class _NotSent(Exception):
    """Raised by a submit's ``on_sending`` hook to keep it from being sent."""


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
        for item in iter_batch_file(self.path, self.default_mode):
            if not isinstance(item, BatchRequest):
                continue  # the first pass refused the run if any line was bad
            # (A line edited into a bad one since is refused by generate's own check,
            # before anything is sent, and journaled as failed.)
            request = item
            # One turn of the loop first: a result handed out just now (an account
            # refusal, the spend cap) is read before another line is started.
            await asyncio.sleep(0)
            if self.result.fatal is not None or self.capped is not None:
                if self._todo(request):
                    self.result.pending += 1
                continue
            if self.journal.is_done(request.key, request.line):
                job_id = self.missing_ids.get(request.key)
                if job_id is not None and _image_on_disk(self.out, request) is None:
                    await self.slots.acquire()
                    await self._resume_later(request, job_id)
                continue
            state = self.journal.states.get(request.key)
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
        if self.journal.is_done(request.key):
            return False
        state = self.journal.states.get(request.key)
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


def batch_stamp(path: Path, out: Path) -> object:
    """What says the batch file and the journal are unchanged (sizes and times)."""
    stamps: list[tuple[int, int, int] | None] = []
    for file in (path, out / JOURNAL_NAME):
        try:
            info = file.stat()
        except FileNotFoundError:
            info = None
        # A journal not there yet and an empty one (just created) hold the same.
        stamps.append(
            (info.st_size, info.st_mtime_ns, info.st_ino) if info and info.st_size else None
        )
    return tuple(stamps)


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
        # Kept in the journal's compacted record, so a rerun of an unchanged, finished
        # batch need not read the file again (`_plan_finished`).
        journal.source = {
            **_source_stamp(path),
            "requests": made.requests,
            "list_price": str(made.list_price),
        }
        runner = _Runner(client, journal, path, default_mode, made, result, options)
        return await runner.run()
    finally:
        try:
            await journal.durable()
        finally:
            journal.close()
