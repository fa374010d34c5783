"""The batch journal: an append-only JSON-lines file that survives `kill -9`.

Each record is one line, written and fsync'd before the batch acts on it, so after a
crash the journal says exactly what may have happened. Records (``t`` is the type)::

    {"v":1,"t":"intent","key":"L12-3f9a0c1b2d4e","line":12,"ts":...}      before the submit
    {"v":1,"t":"job","key":...,"job_id":"job_..."}                          the submit answered
    {"v":1,"t":"job","key":...,"job_id":"job_...","adopted":true}           --adopt LINE:JOB_ID
    {"v":1,"t":"done","key":...,"job_id":...,"path":"00012-3f9a0c1b.png","cost":"0.01"}
    {"v":1,"t":"failed","key":...,"job_id":...|null,"reason":"JobFailedError",
     "message":"...","final":true}
    {"v":1,"t":"unknown","key":...,"reason":"SubmissionOutcomeUnknownError","message":"..."}

The key is the request's line number and a hash of the request (prompt, mode, image,
strength), so an edited line is a new request. Replaying keeps the last record per key:

* ``intent`` with nothing after it, or ``unknown``: the submit may have created a job;
  it is reported and not resubmitted unless the user says so.
* ``job``: resumed with ``wait(job_id)``; never resubmitted.
* ``done``: finished; downloaded again only if the file is gone.
* ``failed`` with ``final``: the job failed, was moderated or refused; left alone.
* ``failed`` without ``final``: with a job id, waited on again; without one (the API
  refused before creating a job: 402, 429, 503...), submitted again.

No record holds the token, and none holds the prompt (only its hash).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

__all__ = ["JOURNAL_NAME", "Journal", "JournalLockedError", "KeyState", "request_key"]

JOURNAL_NAME: Final = ".sharkapi-journal.jsonl"
_VERSION: Final = 1


def request_key(line: int, request: dict[str, Any]) -> str:
    """The journal key of one request: its line number and a hash of what it asks for.

    Args:
        line: The 1-based line number in the batch file.
        request: The request's fields (prompt, mode, image, image_strength).

    Returns:
        A key such as ``L12-3f9a0c1b2d4e``.
    """
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
    return f"L{line}-{digest}"


@dataclass
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
    """

    kind: str
    job_id: str | None = None
    path: str | None = None
    cost: str | None = None
    reason: str | None = None
    message: str | None = None
    final: bool = False
    adopted: bool = False


class Journal:
    """Append-only, fsync'd journal in the output directory.

    Args:
        directory: The batch's output directory (created if missing).
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / JOURNAL_NAME
        self.states: dict[str, KeyState] = {}
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - long-lived
        try:
            _lock(self._file)
        except BaseException:
            self._file.close()
            raise
        self._replay()
        _remove_partial_downloads(directory)
        if self._file.tell() == 0:
            _fsync_dir(directory)
        elif not self._ends_with_newline():
            # A kill in the middle of a write leaves a torn last line; start clean after it.
            self._file.write("\n")
            self._sync()

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as file:
            file.seek(-1, os.SEEK_END)
            return file.read(1) == b"\n"

    def _replay(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="replace") as file:
            for text in file:
                try:
                    record = json.loads(text)
                except ValueError:
                    continue  # the torn tail of a killed write: it was never acted on
                if isinstance(record, dict) and isinstance(record.get("key"), str):
                    self._apply(record)

    def _apply(self, record: dict[str, Any]) -> None:
        key, kind = record["key"], record.get("t")
        previous = self.states.get(key)
        job_id = record.get("job_id") or (previous.job_id if previous else None)
        if kind == "intent":
            # A fresh intent starts a new submission attempt: earlier job-less states are over.
            self.states[key] = KeyState("intent")
        elif kind == "job":
            self.states[key] = KeyState("job", job_id=job_id, adopted=bool(record.get("adopted")))
        elif kind == "done":
            self.states[key] = KeyState(
                "done", job_id=job_id, path=record.get("path"), cost=record.get("cost")
            )
        elif kind in ("failed", "unknown"):
            self.states[key] = KeyState(
                kind,
                job_id=job_id,
                reason=record.get("reason"),
                message=record.get("message"),
                final=bool(record.get("final")),
                adopted=bool(previous and previous.adopted and previous.job_id == job_id),
            )

    def write(self, kind: str, key: str, **fields: Any) -> None:
        """Append one record and make it durable before returning.

        Args:
            kind: intent, job, done, failed or unknown.
            key: The request's key.
            **fields: The record's other fields (never the token or the prompt).
        """
        record = {"v": _VERSION, "t": kind, "key": key, "ts": round(time.time(), 3), **fields}
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._sync()
        self._apply(record)

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class JournalLockedError(Exception):
    """Another process is running a batch into the same directory."""


def _lock(file: IO[str]) -> None:
    # Two batches appending to one journal would each resubmit the other's intents.
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock, documented
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise JournalLockedError(f"another batch is running into {file.name}") from exc


def _remove_partial_downloads(directory: Path) -> None:
    # A download killed mid-way leaves the SDK's temporary file (".sharkapi-*.part")
    # beside its target; the final name only ever appears complete, so these are waste.
    for temp in directory.glob(".sharkapi-*.part"):
        temp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    # The new journal's directory entry must survive a crash too, not only its bytes.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows, where directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
