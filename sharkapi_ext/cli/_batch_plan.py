"""The batch plan: the first streaming pass, what each line needs, and what earlier runs did.

`plan_batch` checks every line before anything is paid and accounts for the journal
(finished, failed, unknown, changed lines, the spend already counted); a rerun of a
finished, unchanged batch is planned from the journal alone (`_plan_finished`).
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat
from operator import rshift
from pathlib import Path
from typing import Final

from sharkapi_spec import MODE_PRICES

from sharkapi_ext import (
    IMAGE_EXTENSIONS,
    SharkAPIError,
    check_prompts,
)

from ._batch_file import (
    BatchError,
    BatchRequest,
    PlainLines,
    _check,
    _no_prompts,
    iter_batch_items,
    refusal,
)
from ._journal import JOURNAL_NAME, Journal, KeyState, key_parts

__all__ = [
    "BatchOptions",
    "BatchPlan",
    "BatchResult",
    "adopt_jobs",
    "batch_stamp",
    "plan_batch",
]


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
        finished: Every request is finished, from the journal alone (the file is the
            one it finished, every image is on disk): there is nothing to run.
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
    finished: bool = False


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
# A PNG's file name from the journal's line and key hash: `BatchRequest.file_name` (the
# hash has 48 bits; the name shows its first 32).
_PNG_NAME: Final = "%05d-%08x.png"  # %-formatting: twice as fast as str.format here


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
    # One listing of the directory rather than a stat per image (several times faster),
    # and the names the images would have built in C loops (`map`, set difference), not
    # a Python loop turn per line. PNG is what the API sends: only the images not found
    # as PNG are looked up again, under the other extensions.
    names = set(os.listdir(journal.path.parent))
    lines, hashes = journal.done.columns()
    shifted = map(rshift, hashes, repeat(16))
    pngs = set(map(_PNG_NAME.__mod__, zip(lines, shifted, strict=True)))
    del lines, hashes, shifted
    for png in pngs - names:
        stem = png.removesuffix(".png")
        if not any(stem + ext in names for ext in _EXTENSIONS):
            return None  # an image is gone: the full pass finds its job to download again
    del names, pngs
    plan = BatchPlan(
        requests=len(journal.done),
        list_price=Decimal(str(source.get("list_price", "0"))),
        counted=journal.done_counted,
        finished=True,
    )
    result = BatchResult(
        total=plan.requests,
        images=plan.requests,
        finished_before=plan.requests,
        cost=journal.done_cost,
    )
    return plan, result


class _Lookup:
    """What the journal holds of a request, its key worked out only when it may hold it.

    A key is a SHA-256 of the line (a third of the check pass's time, and most of a
    stopped run's pass over the rest of the file). Keys name their line, so the lines
    the journal knows are found without hashing; a key of another form means hashing
    every line. The lines with a state are taken once: a run adds states only for the
    lines it has already passed.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._any_done = bool(journal.done)
        self._state_lines: set[int] | None = set()
        self._state_sorted: list[int] | None = None
        for key in journal.states:
            parts = key_parts(key)
            if parts is None:
                self._state_lines = None
                break
            self._state_lines.add(parts[0])

    def knows_any(self, first: int, last: int) -> bool:
        """Whether the journal may hold any line from `first` to `last` (finished or not)."""
        if self._state_lines is None:
            return True
        if self._any_done and self.journal.done.any_between(first, last):
            return True
        if self._state_sorted is None:
            self._state_sorted = sorted(self._state_lines)
        at = bisect_left(self._state_sorted, first)
        return at < len(self._state_sorted) and self._state_sorted[at] <= last

    def finished(self, request: BatchRequest) -> bool:
        """Whether the journal holds the request as finished."""
        return self._line_done(request) and self.journal.is_done(request.key, request.line)

    def edited(self, request: BatchRequest) -> bool:
        """Whether its line was finished as another request (the line was edited since)."""
        return self._line_done(request)  # asked of requests `finished` said no to

    def _line_done(self, request: BatchRequest) -> bool:
        return self._any_done and self.journal.done.get(request.line) is not None

    def state(self, request: BatchRequest) -> KeyState | None:
        """The request's state in the journal (None: never submitted)."""
        if self._state_lines is not None and request.line not in self._state_lines:
            return None
        return self.journal.states.get(request.key)


def _priced(counts: Mapping[str, int]) -> Decimal:
    """The list price of so many requests of each mode."""
    zero = Decimal(0)
    return sum((MODE_PRICES.get(mode, zero) * n for mode, n in counts.items()), zero)


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
    planner = _Planner(journal, options, default_mode)
    for item in iter_batch_items(path, default_mode):
        if isinstance(item, PlainLines):
            planner.plain(item)
        elif isinstance(item, BatchRequest):
            planner.request(item)
        else:
            planner.plan.invalid.append(item)
    return planner.finish(path)


class _Planner:
    """`plan_batch`'s pass: what each line needs, accounted as it goes."""

    def __init__(self, journal: Journal, options: BatchOptions, default_mode: str) -> None:
        self.plan = BatchPlan(journal=journal)
        self.result = BatchResult()
        self.journal = journal
        self.options = options
        self.default_mode = default_mode
        self.lookup = _Lookup(journal)
        self.out = str(journal.path.parent)
        self.seen = 0
        # Prices added up per mode at the end, not per line (Decimal sums cost).
        self.requested: Counter[str] = Counter()
        self.submitting: Counter[str] = Counter()

    def plain(self, block: PlainLines) -> None:
        """A run of plain-prompt lines: checked in bulk when the journal knows none of them."""
        lines = block.lines
        first, last = lines[0], lines[-1]
        if self.lookup.knows_any(first, last) or any(
            first <= line <= last for line in self.options.adopt
        ):
            mode = self.default_mode
            for line, prompt in zip(lines, block.prompts, strict=True):
                self.request(BatchRequest(line, prompt, mode))
            return
        # Never submitted: each line is a new request, to submit once checked.
        refused = check_prompts(block.prompts, mode=self.default_mode)
        for index, exc in refused:
            self.plan.invalid.append((lines[index], refusal(exc)))
        count = len(lines) - len(refused)
        self.seen += len(lines)
        self.plan.requests += count
        self.plan.todo += count
        self.requested[self.default_mode] += count
        self.submitting[self.default_mode] += count

    def request(self, request: BatchRequest) -> None:
        """One request line."""
        plan, result, lookup, options = self.plan, self.result, self.lookup, self.options
        line = request.line
        self.seen += 1
        if lookup.finished(request):
            # Checked when it was submitted (the key is a hash of the whole request).
            plan.requests += 1
            self.requested[request.mode] += 1
            if line in options.adopt:
                plan.adopt[line] = request
            if _image_on_disk(self.out, request) is not None:
                result.images += 1
                result.finished_before += 1
            else:
                plan.missing_images.add(request.key)
                plan.todo += 1
            return
        reason = _check(request)
        if reason is not None:
            plan.invalid.append((line, reason))
            return
        plan.requests += 1
        self.requested[request.mode] += 1
        if line in options.adopt:
            plan.adopt[line] = request
        if lookup.edited(request):
            result.changed.append(line)
        state = lookup.state(request)
        gone = _gone(state, options)
        if state is not None:
            plan.counted += _counted(state, request.price) if not gone else Decimal(0)
            if gone:
                result.sandbox_gone.append(line)
        action = _action(state, options, gone)
        if action == "report-failed":
            assert state is not None
            name = state.reason or "Error"
            result.failures[name] += 1
            result.failed_lines[line] = f"{name}: {state.message or ''}".strip()
            result.retryable.append(line)
        elif action == "report-unknown" and line not in options.adopt:
            result.unknown.append(line)
        else:
            plan.todo += 1
            if action == "submit":
                self.submitting[request.mode] += 1

    def finish(self, path: Path) -> tuple[BatchPlan, BatchResult]:
        """The plan and the result, once every line has been through."""
        plan, result, journal = self.plan, self.result, self.journal
        plan.list_price += _priced(self.requested)
        plan.todo_price += _priced(self.submitting)
        if self.seen == 0 and not plan.invalid:
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
