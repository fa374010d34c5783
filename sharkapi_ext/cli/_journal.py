"""The batch journal: an append-only JSON-lines file that survives `kill -9`.

Each record is one line, written (handed to the OS) before the batch acts on it, so after
`kill -9` the journal says exactly what may have happened. Records (``t`` is the type)::

    {"v":1,"t":"run","sandbox":false,"ts":...}                            a run starts
    {"v":1,"t":"intent","key":"L12-3f9a0c1b2d4e","line":12,"price":"0.01"} the submit goes out
    {"v":1,"t":"job","key":...,"job_id":"job_..."}                          the submit answered
    {"v":1,"t":"job","key":...,"job_id":"job_...","adopted":true}           --adopt LINE:JOB_ID
    {"v":1,"t":"done","key":...,"job_id":...,"path":"00012-3f9a0c1b.png","cost":"0.01"}
    {"v":1,"t":"failed","key":...,"job_id":...|null,"reason":"JobFailedError",
     "message":"...","final":true}
    {"v":1,"t":"unknown","key":...,"reason":"SubmissionOutcomeUnknownError","message":"..."}

Durability without an fsync per record on the event loop: every record is written at
once (one ``write``: from then on it survives the process being killed, ``kill -9``
included), and made durable against a power loss by *group commits* in a worker thread:
one ``fsync`` covers every record written since the last one, a few milliseconds later
(`Journal.durable` waits for it). This is SQLite's WAL mode with ``synchronous=NORMAL``:
a crash of the process loses nothing, a power loss at most the last group commit's
records. An ``fsync`` per record on the loop's thread cost 13 s of an 86 s profile of
10,000 lines (issue 22); the group commits run in a thread (BENCHMARKS.md section 8).

The intent is journaled only when the request has passed the client's gates and is
about to be sent (the client's ``on_sending`` hook), never while it waits for a
connection or for its turn at the rate limit: after a kill, the lines left "outcome
unknown" are the submits that were on the wire, not the ones still queued. (On the aiohttp
transport the body is written by a task of aiohttp's own, a loop turn after the hook:
a kill in that turn leaves one line "unknown" that never reached the server.)

The key is the request's line number and a hash of the request (prompt, mode, image,
strength), so an edited line is a new request. Replaying keeps the last record per key:

* ``intent`` with nothing after it, or ``unknown``: the submit may have created a job;
  it is reported and not resubmitted unless the user says so.
* ``job``: resumed with ``wait(job_id)``; never resubmitted.
* ``done``: finished; downloaded again only if the file is gone.
* ``failed`` with ``final``: the job failed, was moderated or refused; reported, and
  submitted again only with ``--retry-failed``.
* ``failed`` without ``final``: with a job id, waited on again; without one (the API
  refused before creating a job: 402, 429, 503...), submitted again.

Jobs recorded after a ``run`` record with ``"sandbox": true`` ran in the CLI's
in-process sandbox, which is gone once that run ended: a later run says so and submits
those lines again (a sandbox charges nothing).

Size and replay time follow what is left to do: when a journal holds much more history
than live requests, it is rewritten (atomically, streaming) as one record per request
left and a few records of up to 4,096 finished requests each. Finished requests are held
in memory as 8 bytes a line (`FinishedLines`), not as objects, so memory follows what is
in flight or left to do, not the batch's size.

No record holds the token, and none holds the prompt (only its hash).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from ._journal_files import JournalLockedError, _fsync_dir, _lock, _remove_partial_downloads
from ._journal_keys import key_parts, request_key
from ._journal_state import FinishedLines, KeyState

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "JOURNAL_NAME",
    "FinishedLines",
    "Journal",
    "JournalLockedError",
    "KeyState",
    "key_parts",
    "request_key",
]

JOURNAL_NAME: Final = ".sharkapi-journal.jsonl"
_VERSION: Final = 1
# Compact on open when the records are this many times the live requests (and many).
_COMPACT_RATIO: Final = 2
_COMPACT_MIN_RECORDS: Final = 1000
# Finished requests per compacted record: each is read back and written as a small unit,
# never the whole history as one line.
_CHUNK_LINES: Final = 4096


class Journal:
    """Append-only journal in the output directory, with group commits.

    Args:
        directory: The batch's output directory (created if missing).
        read_only: Only read it (``--dry-run``): nothing is created, locked or written.
        replayed: A read-only journal of the same directory, replayed earlier: its
            state is taken over instead of replaying the file again, when `unchanged`
            says (under the lock) that the file has not changed since.
        unchanged: Whether the file is as it was when `replayed` read it.

    Attributes:
        reused: Whether the state was taken over from `replayed`.
        states: The requests not finished, by key (what is left to do or to report).
        done: Finished requests: line number to the hash part of its key
            (`FinishedLines`: 8 bytes a line, no object per line).
        done_cost: The summed cost of every finished request in the journal.
        done_counted: The summed worst case of finished requests (for a spend cap).
        records: Records read at open.
    """

    def __init__(
        self,
        directory: Path,
        *,
        read_only: bool = False,
        replayed: Journal | None = None,
        unchanged: Callable[[], bool] | None = None,
    ) -> None:
        self.path = directory / JOURNAL_NAME
        self.states: dict[str, KeyState] = {}
        self.done = FinishedLines()
        self.done_cost = Decimal("0.00")
        self.done_counted = Decimal("0.00")
        self.records = 0
        #: The batch file the compacted record was written for (its stamp and size).
        self.source: dict[str, object] | None = None
        self._sandbox_run = False
        self._written = 0
        self._synced = 0
        self._syncing: asyncio.Future[None] | None = None
        self._file: IO[str] | None = None
        self.reused = False
        if read_only:
            self._replay()
            return
        directory.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - long-lived
        try:
            _lock(self._file)
        except BaseException:
            self._file.close()
            raise
        if replayed is not None and unchanged is not None and unchanged():
            # Read under the lock: no other run can have written since the check.
            self._take(replayed)
        else:
            self._replay()
        _remove_partial_downloads(directory)
        if self._file.tell() == 0:
            _fsync_dir(directory)
        elif self._history_is_long():
            self._compact()
        elif not self._ends_with_newline():
            # A kill in the middle of a write leaves a torn last line; start clean after it.
            self._file.write("\n")
            self._sync()

    def _take(self, other: Journal) -> None:
        self.states, self.done, self.records = other.states, other.done, other.records
        self.done_cost, self.done_counted = other.done_cost, other.done_counted
        self.source, self._sandbox_run = other.source, other._sandbox_run
        self.reused = True

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as file:
            file.seek(-1, os.SEEK_END)
            return file.read(1) == b"\n"

    def _replay(self) -> None:
        if not self.path.exists():
            return
        loads = json.loads
        with open(self.path, encoding="utf-8", errors="replace") as file:
            for text in file:
                try:
                    record = loads(text)
                except ValueError:
                    continue  # the torn tail of a killed write: it was never acted on
                if isinstance(record, dict):
                    self.records += 1
                    if isinstance(record.get("key"), str):
                        self._apply(record)
                    elif record.get("t") == "run":
                        self._sandbox_run = bool(record.get("sandbox"))
                    elif record.get("t") == "finished":
                        self._apply_finished(record)

    def _apply_finished(self, record: dict[str, Any]) -> None:
        """A compacted record of finished requests (see `_compact`).

        The last of them also carries the totals and the source.
        """
        lines, digests = record.get("lines"), record.get("keys")
        if not isinstance(lines, list) or not isinstance(digests, list):
            return
        self.done.update(lines, digests)
        self.done_cost += _decimal(record.get("cost"))
        self.done_counted += _decimal(record.get("counted"))
        source = record.get("source")
        if isinstance(source, dict):
            self.source = source

    def _apply(self, record: dict[str, Any]) -> None:
        key, kind = record["key"], record.get("t")
        if kind == "done":
            self._finish(key, record)
            return
        previous = self.states.get(key)
        job_id = record.get("job_id") or (previous.job_id if previous else None)
        price = record.get("price") or (previous.price if previous else None)
        if kind == "intent":
            # A fresh intent starts a new submission attempt: earlier job-less states are over.
            state = KeyState("intent", price=price)
        elif kind == "job":
            state = KeyState("job", job_id=job_id, adopted=bool(record.get("adopted")), price=price)
        elif kind in ("failed", "unknown"):
            state = KeyState(
                kind,
                job_id=job_id,
                reason=record.get("reason"),
                message=record.get("message"),
                final=bool(record.get("final")),
                adopted=bool(previous and previous.adopted and previous.job_id == job_id),
                price=price,
            )
        else:
            return
        if kind == "job" and not state.adopted:
            state.sandbox = self._sandbox_run
        elif previous is not None and previous.job_id == job_id and kind != "intent":
            state.sandbox = previous.sandbox
        elif kind in ("intent", "unknown"):
            state.sandbox = self._sandbox_run
        self.states[key] = state

    def _finish(self, key: str, record: dict[str, Any]) -> None:
        previous = self.states.pop(key, None)
        parts = key_parts(key)
        if parts is None:
            return
        line, digest = parts
        if self.done.get(line) == digest:
            return  # downloaded again after its file was deleted: paid once
        self.done[line] = digest
        cost = _decimal(record.get("cost"))
        price = _decimal(record.get("price") or (previous.price if previous else None))
        self.done_cost += cost
        self.done_counted += max(cost, price)

    @property
    def sandbox_run(self) -> bool:
        """Whether the latest ``run`` record says the jobs after it ran in a sandbox."""
        return self._sandbox_run

    def is_done(self, key: str, line: int | None = None) -> bool:
        """Whether the journal holds this request as finished.

        Args:
            key: The request's key.
            line: Its line number, when known (spares taking the key apart).
        """
        if not self.done:
            return False  # a first run: no key to take apart
        if line is not None:
            digest = self.done.get(line)
            return digest is not None and digest == int(key[-12:], 16)
        parts = key_parts(key)
        return parts is not None and self.done.get(parts[0]) == parts[1]

    def write(self, kind: str, key: str | None, **fields: Any) -> None:
        """Append one record; it survives the process being killed once this returns.

        A power loss may still lose it until the next group commit (`durable`), which
        starts in the background at once when an event loop runs.

        Args:
            kind: run, intent, job, done, failed or unknown.
            key: The request's key (None for a ``run`` record).
            **fields: The record's other fields (never the token or the prompt).
        """
        assert self._file is not None, "a read-only journal"
        record = {"v": _VERSION, "t": kind, "ts": round(time.time(), 3), **fields}
        if key is not None:
            record["key"] = key
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()
        self._written += 1
        self.records += 1
        if key is not None:
            self._apply(record)
        else:
            self._sandbox_run = bool(fields.get("sandbox"))
        if not _in_event_loop():
            self._sync()
            self._synced = self._written
            return
        if self._syncing is None:
            import asyncio

            self._syncing = asyncio.ensure_future(self._group_commit())

    async def durable(self) -> None:
        """Wait until every record written so far is fsync'd (one fsync for many writers)."""
        import asyncio  # loaded by the loop this runs in; the module itself does without

        target = self._written
        while self._synced < target:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._group_commit())
            await asyncio.shield(self._syncing)

    async def _group_commit(self) -> None:
        import asyncio

        try:
            while self._synced < self._written and self._file is not None:
                upto = self._written
                await asyncio.to_thread(os.fsync, self._file.fileno())
                self._synced = upto
        finally:
            self._syncing = None

    def _sync(self) -> None:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())

    def _compact(self) -> None:
        """Rewrite the journal as what is left (atomically): the history goes.

        The finished requests become a few records of up to `_CHUNK_LINES` each (their
        lines, key hashes and job ids; the last also the summed cost), read back in
        milliseconds; every other request keeps one record, from its replayed state.
        Streamed: the job ids are read from the old file as the new one is written,
        so memory holds one chunk and a bit per line, never the history.
        """
        assert self._file is not None
        self._file.flush()
        temp = self.path.with_name(self.path.name + ".compact")
        with open(temp, "w", encoding="utf-8") as new:
            chunk: tuple[list[int], list[str], list[str | None]] = ([], [], [])
            for line, digest, job_id in self._finished_entries():
                if len(chunk[0]) == _CHUNK_LINES:
                    new.write(_finished_record(chunk) + "\n")
                    chunk = ([], [], [])
                chunk[0].append(line)
                chunk[1].append(f"{digest:012x}")
                chunk[2].append(job_id)
            totals: dict[str, object] = {
                "cost": str(self.done_cost),
                "counted": str(self.done_counted),
            }
            if self.source is not None and not self.states:
                totals["source"] = self.source
            new.write(_finished_record(chunk, totals) + "\n")
            del chunk
            for key, state in self.states.items():
                fields: dict[str, object] = {
                    name: value
                    for name, value in (
                        ("job_id", state.job_id),
                        ("reason", state.reason),
                        ("message", state.message),
                        ("price", state.price),
                    )
                    if value is not None
                }
                if state.final:
                    fields["final"] = True
                if state.adopted:
                    fields["adopted"] = True
                if state.sandbox:
                    new.write(json.dumps({"v": _VERSION, "t": "run", "sandbox": True}) + "\n")
                record = {"v": _VERSION, "t": state.kind, "key": key, **fields}
                new.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
                if state.sandbox:
                    new.write(json.dumps({"v": _VERSION, "t": "run", "sandbox": False}) + "\n")
            new.flush()
            os.fsync(new.fileno())
        os.replace(temp, self.path)
        _fsync_dir(self.path.parent)
        # The lock stays on the old file's descriptor until the new one holds it.
        old_file = self._file
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - long-lived
        _lock(self._file)
        old_file.close()
        self._sandbox_run = False
        self.records = 1 + len(self.states)
        self._written = self._synced = 0

    def _finished_entries(self) -> Iterator[tuple[int, int, str | None]]:
        """Each finished request once: line, key hash and job id, in the file's order.

        A bit per line remembers what was given (a line downloaded twice has two
        ``done`` records); a finished line the file gives no job id for comes last.
        """
        given = bytearray(self.done.span // 8 + 1)
        given_aside: set[int] = set()

        def first_time(line: int) -> bool:
            if 0 <= line < 8 * len(given):
                byte, bit = divmod(line, 8)
                if given[byte] >> bit & 1:
                    return False
                given[byte] |= 1 << bit
                return True
            if line in given_aside:
                return False
            given_aside.add(line)
            return True

        for line, digest, job_id in self._job_records():
            if self.done.get(line) == digest and first_time(line):
                yield line, digest, job_id
        for line, digest in self.done.items():
            if first_time(line):
                yield line, digest, None

    def _job_records(self) -> Iterator[tuple[int, int, str | None]]:
        """Line, key hash and job id of every ``done`` and compacted entry in the file."""
        with open(self.path, encoding="utf-8", errors="replace") as file:
            for text in file:
                if '"done"' not in text and '"finished"' not in text:
                    continue
                try:
                    record = json.loads(text)
                except ValueError:
                    continue
                if not isinstance(record, dict):
                    continue
                if record.get("t") == "finished":
                    lines, digests = record.get("lines"), record.get("keys")
                    jobs = record.get("jobs")
                    if not isinstance(lines, list) or not isinstance(digests, list):
                        continue
                    if not isinstance(jobs, list):
                        jobs = []
                    for i, (line, digest) in enumerate(zip(lines, digests, strict=False)):
                        job = jobs[i] if i < len(jobs) else None
                        if type(line) is int and type(digest) is str:
                            with contextlib.suppress(ValueError):
                                yield line, int(digest, 16), job if isinstance(job, str) else None
                    continue
                key = record.get("key")
                parts = key_parts(key) if isinstance(key, str) else None
                if parts is not None and record.get("t") == "done":
                    job_id = record.get("job_id")
                    yield parts[0], parts[1], str(job_id) if job_id else None

    def job_ids_of(self, keys: Iterable[str]) -> dict[str, str]:
        """The job ids of finished requests (read from the file; for images gone missing).

        Holds only what is asked for, never every finished line's id.
        """
        wanted: dict[int, str] = {}
        for key in keys:
            parts = key_parts(key)
            if parts is not None and self.done.get(parts[0]) == parts[1]:
                wanted[parts[0]] = key
        found: dict[str, str] = {}
        if not wanted:
            return found
        for line, digest, job_id in self._job_records():
            asked = wanted.get(line)
            if asked is not None and job_id and self.done.get(line) == digest:
                found[asked] = job_id
        return found

    def close(self) -> None:
        """Make everything durable, compact a long history, and close the file."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._sync()
            if self._history_is_long():
                with contextlib.suppress(OSError):
                    self._compact()
            self._file.close()

    def _history_is_long(self) -> bool:
        return self.records > _COMPACT_MIN_RECORDS and self.records > _COMPACT_RATIO * (
            len(self.states) + 1
        )


def _in_event_loop() -> bool:
    """Whether an event loop runs in this thread (a batch run's writes are group-committed)."""
    # None runs where asyncio was never loaded: a check, an --adopt, a finished rerun
    # (the command line loads it only to run a batch), so this does not load it either.
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _finished_record(
    chunk: tuple[list[int], list[str], list[str | None]], totals: dict[str, object] | None = None
) -> str:
    lines, keys, jobs = chunk
    record = {"v": _VERSION, "t": "finished", "lines": lines, "keys": keys, "jobs": jobs}
    return json.dumps({**record, **(totals or {})}, separators=(",", ":"))


def _decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except ArithmeticError:
        return Decimal(0)
