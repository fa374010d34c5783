"""The async client's whole-exchange deadlines: one loop timer for every request in flight.

`AsyncSharkAPI` bounds each exchange (connecting, sending, headers and body) by its
deadline, as `asyncio.timeout` would. But `asyncio.timeout` arms and cancels a loop timer
per request behind a context manager: +11% on a poll's client time against a mock
transport, and the per-call target is raw httpx's (BENCHMARKS.md, section 1). Here every
request registers its deadline in one heap, one loop timer is armed at the earliest
deadline, and a request that ends only marks its entry done; done entries leave the heap
as they reach its head (or in a sweep, when they outnumber the live ones).

The cancellation rules are `asyncio.timeout`'s: at the deadline the task is cancelled;
the request, seeing a cancellation while its own entry expired, turns it into
`TimeoutError`, unless someone else cancelled the task as well (`Task.uncancel` counts
the requests; an outside cancellation still propagates).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math

__all__ = ["Deadlines", "Watch"]


class Watch:
    """One request's deadline: whether it expired, and the task it cancels if so."""

    __slots__ = ("cancelling", "done", "expired", "task")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        # Cancellations already pending when the request started are not ours.
        self.cancelling = task.cancelling()
        self.expired = False
        self.done = False

    def timed_out(self) -> bool:
        """After a `CancelledError`: was it this deadline (and only this deadline)?"""
        return self.expired and self.task.uncancel() <= self.cancelling


class Deadlines:
    """The deadlines of one event loop's requests, behind a single loop timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()  # ties keep their order; Watch is not comparable
        self._live = 0
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def watch(self, seconds: float) -> Watch:
        """Cancel the current task `seconds` from now, unless `finish` comes first.

        Returns:
            The watch; pass it to `finish` when the request ends, however it ends.
        """
        task = asyncio.current_task(self.loop)
        if task is None:  # pragma: no cover - AsyncSharkAPI always runs in a task
            raise RuntimeError("a deadline needs a running asyncio task")
        watch = Watch(task)
        when = self.loop.time() + seconds
        heap = self._heap
        while heap and heap[0][2].done:  # requests end roughly in order: keeps it short
            heapq.heappop(heap)
        heapq.heappush(heap, (when, next(self._order), watch))
        self._live += 1
        if when < self._armed_at:
            self._arm(when)
        return watch

    def finish(self, watch: Watch) -> None:
        """The request ended: its deadline no longer applies."""
        if watch.done:
            return
        watch.done = True
        self._live -= 1
        if len(self._heap) > 64 + 2 * self._live:
            # A long request at the head holds the ended ones behind it: sweep them.
            self._heap = [entry for entry in self._heap if not entry[2].done]
            heapq.heapify(self._heap)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = when
        self._timer = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._armed_at = math.inf
        now = self.loop.time()
        heap = self._heap
        while heap and (heap[0][0] <= now or heap[0][2].done):
            _, _, watch = heapq.heappop(heap)
            if not watch.done:
                watch.expired = True
                watch.task.cancel()
        if heap:
            self._arm(heap[0][0])
