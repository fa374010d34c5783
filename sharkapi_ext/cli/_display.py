"""Live status while waiting on one job: a ticking line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from sharkapi_ext import JobStatus

from ._output import is_interactive

__all__ = ["StatusLine", "is_interactive"]


class _Line:
    """A renderable re-rendered on every refresh, so the elapsed time ticks between polls."""

    def __init__(self, owner: StatusLine) -> None:
        self._owner = owner
        self._spinner = Spinner("dots", style="cyan")

    def __rich__(self) -> Table:
        owner = self._owner
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            self._spinner,
            Text(owner.status, style="bold"),
            Text(f"{owner.elapsed():5.1f}s", style="dim"),
            Text(f"job {owner.job_id}" if owner.job_id else "submitting...", style="dim"),
        )
        return grid


class StatusLine:
    """Shows a job's status, elapsed time and id while the caller blocks in `wait`.

    On a terminal, a rich `Live` redraws the line several times a second from its own
    thread; otherwise each status change is one plain line on stderr.

    Args:
        interactive: Draw a live line (True) or print plain lines (False).
    """

    def __init__(self, *, interactive: bool) -> None:
        self.interactive = interactive
        self.status = "submitting"
        self.job_id: str | None = None
        self._start = time.monotonic()
        self._live: Live | None = None
        self._console = Console(stderr=True)

    def elapsed(self) -> float:
        """Seconds since the display started."""
        return time.monotonic() - self._start

    def set_job(self, job_id: str, status: str) -> None:
        """Record the job once it is known."""
        self.job_id = job_id
        self._set(status)

    def update(self, status: JobStatus) -> None:
        """`wait`'s ``on_update`` callback."""
        self.job_id = status.job_id
        self._set(status.status)

    def _set(self, status: str) -> None:
        changed = status != self.status
        self.status = status
        if changed and not self.interactive:
            print(f"job {self.job_id}: {status} ({self.elapsed():.1f}s)", file=sys.stderr)

    def __enter__(self) -> Self:
        if self.interactive:
            self._live = Live(
                _Line(self), console=self._console, refresh_per_second=10, transient=True
            )
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
