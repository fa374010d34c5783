"""The session's ledger: the jobs this server submitted or resumed, and the spend cap.

Every submit is counted before it is sent (`SpendCap.reserve`), raised to the job's
estimate and final cost, and un-counted only when the exception that ended it says no
job can exist (`SpendCap.settle`). A submit that may have created a job stays listed:
by its id when the SDK knows it, as an ``outcome_unknown`` submit otherwise, also when
the tool call was cancelled while the submit was on the wire (no result reaches the
model then; `list_jobs` and the log say it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sharkapi_ext import (
    Job,
    JobStatus,
    Reservation,
    SpendCap,
    format_amount,
    job_outcome,
)

__all__ = ["JobRecord", "Ledger", "UnknownSubmit"]

logger = logging.getLogger("sharkapi.mcp")


def _preview(prompt: str) -> str:
    return prompt if len(prompt) <= 80 else prompt[:79] + "…"


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class JobRecord:
    """One job this server submitted (or resumed), for `list_jobs`."""

    job_id: str
    mode: str | None
    prompt: str | None
    status: str
    estimated_cost: Decimal | None = None
    cost: Decimal | None = None
    path: str | None = None
    submitted_here: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "mode": self.mode,
            "prompt": self.prompt,
            "estimated_cost": format_amount(self.estimated_cost),
            "cost": format_amount(self.cost),
            "path": self.path,
            "submitted_by_this_server": self.submitted_here,
        }


@dataclass
class UnknownSubmit:
    """A submit that may have created a job whose id is unknown."""

    mode: str
    prompt: str
    error: str
    at: str
    cancelled: bool = False

    def as_dict(self) -> dict[str, Any]:
        how = (
            "the tool call was cancelled while its submit may have reached the API"
            if self.cancelled
            else "the submit may have reached the API"
        )
        return {
            "status": "outcome_unknown",
            "job_id": None,
            "mode": self.mode,
            "prompt": self.prompt,
            "error": self.error,
            "note": f"{how}: a job may have been created and may be charged; do not resubmit",
            "submitted_at": self.at,
        }


class Ledger:
    """The jobs of this session and the worst-case spend counted for them.

    Args:
        max_cost: The spend cap, in dollars.
    """

    def __init__(self, max_cost: Decimal) -> None:
        self.cap = SpendCap(max_cost)
        self.jobs: dict[str, JobRecord] = {}
        self.unknown: list[UnknownSubmit] = []

    def reserve(self, mode: str) -> Reservation:
        """Count a submit before it is sent (no await between the check and the count)."""
        return self.cap.reserve(mode)

    def submitted(self, job: Job, mode: str, prompt: str, reservation: Reservation) -> None:
        """Record a submit the API answered 2xx: the job exists."""
        self.jobs[job.job_id] = JobRecord(
            job.job_id, mode, _preview(prompt), job.status, estimated_cost=job.estimated_cost
        )
        self.cap.raise_to(reservation, job.estimated_cost)

    def submit_failed(
        self, reservation: Reservation, exc: BaseException, mode: str, prompt: str
    ) -> None:
        """Record a submit that ended with `exc`, by what the exception says of its job.

        A cancellation or interruption gets no tool result: the log line is the record.
        """
        self.cap.settle(reservation, exc)
        outcome = job_outcome(exc)
        interrupted = not isinstance(exc, Exception)
        if not outcome.may_exist:
            if interrupted:
                logger.info("generate_image %s before anything was sent", type(exc).__name__)
            return
        if outcome.job_id is not None:
            self.jobs[outcome.job_id] = JobRecord(outcome.job_id, mode, _preview(prompt), "unknown")
        else:
            self.unknown.append(
                UnknownSubmit(mode, _preview(prompt), type(exc).__name__, _now_iso(), interrupted)
            )
        if interrupted:
            job = f"job {outcome.job_id}" if outcome.job_id else "a job"
            logger.warning(
                "generate_image %s while its submit may have reached the API: %s may have "
                "been created and may be charged when it completes; list_jobs shows it",
                type(exc).__name__,
                job,
            )

    def finished(self, job_id: str, final: JobStatus, reservation: Reservation | None) -> JobRecord:
        """Record a job's final status and cost (a resumed job gets a record too)."""
        record = self.jobs.get(job_id)
        if record is None:
            record = self.jobs[job_id] = JobRecord(
                job_id, final.mode, None, final.status, submitted_here=False
            )
        record.status, record.cost = final.status, final.cost
        record.estimated_cost = final.estimated_cost
        if reservation is not None:
            self.cap.raise_to(reservation, final.cost)
        return record

    def seen(self, status: JobStatus) -> JobRecord | None:
        """Note a status read of one of this session's jobs."""
        record = self.jobs.get(status.job_id)
        if record is not None:
            record.status, record.cost = status.status, status.cost
        return record

    def spend(self) -> dict[str, str | None]:
        """The spend counted, the cap and what is left, as JSON amounts."""
        return {
            "spend_counted": format_amount(self.cap.counted),
            "spend_cap": format_amount(self.cap.cap),
            "spend_remaining": format_amount(self.cap.remaining),
        }
