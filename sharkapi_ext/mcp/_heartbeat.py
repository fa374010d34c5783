"""Progress notifications while a tool call waits on a job, so the host does not time out.

One `Heartbeat` per waiting call: it reports at every status change and at least every
``heartbeat_seconds``, always naming the job, with a progress value that increases with
every notification (the protocol requires it), even when the clock does not move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from mcp.server import ServerRequestContext

from sharkapi_ext import JobStatus

__all__ = ["Heartbeat"]


class Heartbeat:
    """Reports one call's progress on a job.

    Args:
        ctx: The tool call's request context (its session sends the notifications).
        job_id: The job waited on, named in every message.
        started: When the call started, on `clock`.
        clock: Monotonic seconds.
        total: The call's wait bound, reported as the progress total.
        every: Seconds between notifications when the status does not change.
        status: The status to report until the first poll says otherwise.
    """

    def __init__(
        self,
        ctx: ServerRequestContext[Any],
        job_id: str,
        *,
        started: float,
        clock: Callable[[], float],
        total: float,
        every: float,
        status: str,
    ) -> None:
        self._ctx = ctx
        self._job_id = job_id
        self._started = started
        self._clock = clock
        self._total = total
        self._every = every
        self.status = status
        self._changed = anyio.Event()
        self._last_progress = 0.0

    def update(self, status: JobStatus) -> None:
        """`wait`'s ``on_update`` callback: report the new status at once."""
        self.status = status.status
        self._changed.set()

    async def report(self, what: str) -> None:
        """Send one progress notification saying `what` happens to the job."""
        elapsed = self._clock() - self._started
        self._last_progress = max(elapsed, self._last_progress + 0.001)
        await self._ctx.session.report_progress(
            self._last_progress, self._total, f"job {self._job_id}: {what} ({elapsed:.0f} s)"
        )

    async def run(self) -> None:
        """Report the status until cancelled: at each change, and every `every` seconds."""
        while True:
            with anyio.move_on_after(self._every):
                await self._changed.wait()
            self._changed = anyio.Event()
            await self.report(self.status)
