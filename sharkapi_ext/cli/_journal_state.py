"""What a journal knows after replay: each live request's state, and the finished lines."""

from __future__ import annotations

import contextlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, sub
from typing import Any, Final

__all__ = ["FinishedLines", "KeyState"]


_MAX_HASH: Final = 2**63


class FinishedLines:
    """Finished requests: each line number's key hash, 8 bytes a line and no object each.

    A line's hash (48 bits) plus one is kept at its index in an ``array('Q')``, zero
    meaning "not finished": 0.8 MB for 100,000 lines where a dict of ints took about
    10 MB. Lines far beyond the array (a journal written for another, longer file) go to
    a small dict, so one stray line number cannot allocate a huge array.
    """

    __slots__ = ("_count", "_hashes", "_sparse")

    def __init__(self) -> None:
        self._hashes = array("Q")
        self._sparse: dict[int, int] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def span(self) -> int:
        """The line numbers the array covers (0 to span - 1)."""
        return len(self._hashes)

    def get(self, line: int) -> int | None:
        """The key hash of a finished line, or None."""
        hashes = self._hashes
        if 0 <= line < len(hashes):
            stored = hashes[line]
            return stored - 1 if stored else None
        return self._sparse.get(line)

    def any_between(self, first: int, last: int) -> bool:
        """Whether any line from `first` to `last` (both included) is finished."""
        low = max(first, 0)
        if any(self._hashes[low : last + 1]):  # a slice of the array: no loop per line
            return True
        return any(first <= line <= last for line in self._sparse)

    def __setitem__(self, line: int, digest: int) -> None:
        hashes = self._hashes
        self._forget(line)
        self._count += 1
        if not 0 <= digest < _MAX_HASH:  # not a hash this module wrote: kept aside
            self._sparse[line] = digest
            return
        if len(hashes) <= line < 2 * len(hashes) + 65536:
            # Grown geometrically (amortised), up to the line numbers the file has.
            hashes.frombytes(bytes(8 * (max(line + 1, 2 * len(hashes)) - len(hashes))))
        if 0 <= line < len(hashes):
            hashes[line] = digest + 1
        else:
            self._sparse[line] = digest

    def _forget(self, line: int) -> None:
        hashes = self._hashes
        if 0 <= line < len(hashes) and hashes[line]:
            hashes[line] = 0
            self._count -= 1
        if self._sparse.pop(line, None) is not None:
            self._count -= 1

    def update(self, lines: list[Any], digests: list[Any]) -> None:
        """Add a compacted record's lines and hex hashes (skipping malformed entries).

        One pass without a call per line: a rerun replays 100,000 lines in milliseconds.
        """
        try:
            values = list(map(add, map(int, digests, repeat(16)), repeat(1)))
            ok = (
                len(values) == len(lines)
                and not self._sparse
                and set(map(type, lines)) <= {int}
                and (not lines or (min(lines) >= 0 and max(values) <= _MAX_HASH))
            )
        except (TypeError, ValueError):
            ok = False
        if not ok:
            for line, digest in zip(lines, digests, strict=False):
                if type(line) is int and type(digest) is str:
                    with contextlib.suppress(ValueError):
                        self[line] = int(digest, 16)
            return
        if not lines:
            return
        hashes = self._hashes
        top = max(lines)
        if top >= len(hashes):
            if top >= 2 * len(hashes) + 65536 + len(lines):
                for line, value in zip(lines, values, strict=True):
                    self[line] = value - 1
                return
            hashes.frombytes(bytes(8 * (max(top + 1, 2 * len(hashes)) - len(hashes))))
        count = self._count
        for line, value in zip(lines, values, strict=True):
            if not hashes[line]:
                count += 1
            hashes[line] = value
        self._count = count

    def columns(self) -> tuple[list[int], list[int]]:
        """The finished lines and their key hashes, as `items` orders them, in two lists.

        Built without a Python loop turn per line (`compress`, `map`): a rerun of a
        finished batch of 100,000 lines takes them in milliseconds.
        """
        stored = self._hashes
        lines = list(compress(range(len(stored)), stored))
        hashes = list(map(sub, filter(None, stored), repeat(1)))
        for line, digest in sorted(self._sparse.items()):
            lines.append(line)
            hashes.append(digest)
        return lines, hashes

    def items(self) -> Iterator[tuple[int, int]]:
        """Each finished line and its key hash, in line order (lines kept aside last)."""
        for line, stored in enumerate(self._hashes):
            if stored:
                yield line, stored - 1
        yield from sorted(self._sparse.items())


@dataclass(slots=True)
class KeyState:
    """What the journal knows about one request after replay.

    Attributes:
        kind: The last record's type: intent, job, done, failed or unknown.
        job_id: The job id, once any record gave one.
        path: The image file name (relative to the output directory), once done.
        cost: The final cost as a string, once done.
        reason: The failure's exception name.
        message: The failure's message.
        final: Whether a failure is final.
        adopted: Whether the job id came from ``--adopt`` rather than from a submit.
        price: The list price counted for its submit (a string), if one was journaled.
        sandbox: The job ran in an in-process sandbox of an earlier run (now gone).
    """

    kind: str
    job_id: str | None = None
    path: str | None = None
    cost: str | None = None
    reason: str | None = None
    message: str | None = None
    final: bool = False
    adopted: bool = False
    price: str | None = None
    sandbox: bool = False
