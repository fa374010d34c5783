"""Many generations at once: `AsyncSharkAPI.iter_generate` and `generate_many`.

The streaming loop behind both: a fixed number of workers read the requests lazily (any
iterable or async iterable, a generator over a million-line file included), run each
through `AsyncSharkAPI.generate` (its pacing, its retries, a spend cap), and hand out each
result as it finishes. On an early exit every job that may exist is named on the exception.
The client's methods are thin delegates to the functions here; nothing else uses them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from sharkapi_spec import MODE_PRICES

from ._exceptions import InvalidRequestError, JobOutcome, job_outcome
from ._models import JobStatus
from ._spend import SpendCap
from ._validation import KEYWORD_FIELDS

if TYPE_CHECKING:
    from ._async_client import AsyncSharkAPI

__all__ = ["GenerateRequest", "GenerateResult", "generate_many", "iter_generate"]

logger = logging.getLogger("sharkapi")

GenerateRequest = str | Mapping[str, Any]
"""One item of `generate_many`: a prompt, or a mapping of `submit`'s keyword arguments."""


@attrs.frozen
class GenerateResult:
    """One finished item of `AsyncSharkAPI.iter_generate`.

    Attributes:
        index: The item's position in the input (from 0).
        request: The item as given.
        result: Its finished `JobStatus`, or the exception that ended it (naming the job
            id when a job was created).
    """

    index: int
    request: GenerateRequest
    result: JobStatus | Exception


class _Numbered:
    """Hands out ``(index, item)`` of a sync or async iterable to several workers."""

    def __init__(self, items: Iterable[GenerateRequest] | AsyncIterable[GenerateRequest]) -> None:
        self._sync = iter(items) if isinstance(items, Iterable) else None
        self._async = (
            aiter(items) if isinstance(items, AsyncIterable) and self._sync is None else None
        )
        self._lock = asyncio.Lock()
        self._index = 0
        self._done = False

    async def next(self) -> tuple[int, GenerateRequest] | None:
        if self._done:
            return None
        if self._sync is not None:
            item = next(self._sync, _END)
        else:
            assert self._async is not None
            async with self._lock:  # an async generator may not be entered twice at once
                item = await anext(self._async, _END) if not self._done else _END
        if item is _END:
            self._done = True
            return None
        index = self._index
        self._index += 1
        return index, item


_END: Any = object()


def _record_interrupted_jobs(exc: BaseException, jobs: list[tuple[int, JobOutcome]]) -> None:
    """Name on `exc` every job of an interrupted `iter_generate` that may exist."""
    if not jobs:
        return
    try:
        exc.sharkapi_jobs = list(jobs)  # type: ignore[attr-defined]
        exc.sharkapi_job_may_exist = True  # type: ignore[attr-defined]
    except AttributeError:
        pass
    known = [outcome.job_id for _, outcome in jobs if outcome.job_id]
    unknown = len(jobs) - len(known)
    shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
    text = f"SharkAPI: {len(jobs)} job(s) of this run may exist and be charged"
    if known:
        text += f"; resume with wait(job_id): {shown}"
    if unknown:
        text += f"; {unknown} submit(s) were interrupted on the wire (ids unknown)"
    exc.add_note(text)
    logger.warning("%s (%s)", text, type(exc).__name__)


# A mapping item may name any request field of the spec: the keyword ones go to
# `generate` as they are, the others into its ``extra_fields``, which refuses (naming
# it) any name the spec does not declare, typos included.
_CALL_KEYS = frozenset(
    {*KEYWORD_FIELDS, "extra_fields", "timeout", "on_update", "on_sending", "on_submitted"}
)


async def generate_many(
    client: AsyncSharkAPI,
    requests: Iterable[GenerateRequest],
    *,
    concurrency: int,
    mode: str,
    timeout: float,
    on_update: Callable[[JobStatus], object] | None,
    max_cost: Decimal | None,
) -> list[JobStatus | BaseException]:
    """`AsyncSharkAPI.generate_many`: collects `iter_generate` into a list."""
    results: dict[int, JobStatus | BaseException] = {}
    async for done in iter_generate(
        client,
        requests,
        concurrency=concurrency,
        mode=mode,
        timeout=timeout,
        on_update=on_update,
        max_cost=max_cost,
        spend_cap=None,
    ):
        results[done.index] = done.result
    return [results[index] for index in range(len(results))]


async def iter_generate(
    client: AsyncSharkAPI,
    requests: Iterable[GenerateRequest] | AsyncIterable[GenerateRequest],
    *,
    concurrency: int,
    mode: str,
    timeout: float,
    on_update: Callable[[JobStatus], object] | None,
    max_cost: Decimal | None,
    spend_cap: SpendCap | None,
) -> AsyncIterator[GenerateResult]:
    """`AsyncSharkAPI.iter_generate`: the streaming loop (its docstring says the rules)."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequestError(
            "concurrency", f"must be a whole number >= 1, got {concurrency!r}"
        )
    if isinstance(requests, str | bytes | Mapping) or not isinstance(
        requests, Iterable | AsyncIterable
    ):
        # A lone prompt would be iterated letter by letter: a paid job per letter.
        raise InvalidRequestError(
            "requests", f"must be a list of prompts or mappings, got {type(requests).__name__}"
        )
    cap = spend_cap
    if cap is None and max_cost is not None:
        cap = SpendCap(max_cost)
    source = _Numbered(requests)
    results: asyncio.Queue[GenerateResult | None] = asyncio.Queue(maxsize=concurrency)
    interrupted: list[tuple[int, JobOutcome]] = []

    async def worker() -> None:
        while True:
            got = await source.next()
            if got is None:
                await results.put(None)
                return
            index, item = got
            outcome: JobStatus | Exception
            try:
                outcome = await _generate_item(client, item, mode, timeout, on_update, cap)
            except Exception as exc:
                outcome = exc
            except BaseException as exc:
                record = job_outcome(exc)
                if record.may_exist:
                    interrupted.append((index, record))
                raise
            try:
                await results.put(GenerateResult(index, item, outcome))
            except BaseException:
                # Cancelled with a finished (paid) result in hand: it must not vanish.
                record = (
                    JobOutcome(True, outcome.job_id)
                    if isinstance(outcome, JobStatus)
                    else job_outcome(outcome)
                )
                if record.may_exist:
                    interrupted.append((index, record))
                raise

    tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    running = len(tasks)
    try:
        while running:
            done = await results.get()
            if done is None:
                running -= 1
                continue
            yield done
    except BaseException as exc:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Results finished but not yet handed out are paid work too.
        while not results.empty():
            left = results.get_nowait()
            if left is None:
                continue
            record = (
                JobOutcome(True, left.result.job_id)
                if isinstance(left.result, JobStatus)
                else job_outcome(left.result)
            )
            if record.may_exist:
                interrupted.append((left.index, record))
        _record_interrupted_jobs(exc, interrupted)
        raise
    finally:
        for task in tasks:
            task.cancel()
        if any(not task.done() for task in tasks):
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:  # a worker's own failure (the source raised) propagates
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


async def _generate_item(
    client: AsyncSharkAPI,
    item: GenerateRequest,
    mode: str,
    timeout: float,
    on_update: Callable[[JobStatus], object] | None,
    cap: SpendCap | None,
) -> JobStatus:
    if isinstance(item, str):
        kwargs: dict[str, Any] = {"prompt": item, "mode": mode}
    elif isinstance(item, Mapping):
        if "prompt" not in item:
            raise InvalidRequestError(
                "requests", f"each mapping needs 'prompt', got {sorted(map(str, item))}"
            )
        kwargs = {"mode": mode}
        extra = dict(item.get("extra_fields") or {})
        for key, value in item.items():
            if key in _CALL_KEYS:
                kwargs[key] = value
            else:
                extra[key] = value
        kwargs["extra_fields"] = extra or None
    else:
        raise InvalidRequestError(
            "requests", f"each must be a prompt or a mapping, got {type(item).__name__}"
        )
    kwargs.setdefault("timeout", timeout)
    kwargs.setdefault("on_update", on_update)
    reservation = None
    if cap is not None and kwargs["mode"] in MODE_PRICES:
        # Counted at the list price before anything is sent (a bad mode is refused
        # by generate's own check, before anything is sent, and counts nothing).
        reservation = cap.reserve(kwargs["mode"])
    try:
        status = await client.generate(**kwargs)
    except BaseException as exc:
        if reservation is not None and cap is not None:
            cap.settle(reservation, exc)
        raise
    if reservation is not None and cap is not None:
        cap.raise_to(reservation, status.cost)
    return status
