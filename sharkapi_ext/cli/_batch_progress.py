"""The batch's progress: a bar on a terminal, one plain line per finished request otherwise."""

from __future__ import annotations

import sys
from decimal import Decimal

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ._batch_file import BatchRequest


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
