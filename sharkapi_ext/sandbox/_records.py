"""The sandbox's records: wallets, jobs, charges, submissions and logged requests.

A job's status is a pure function of the time elapsed since its creation (`Job.status_at`),
so thousands of concurrent jobs cost no background task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import sharkapi_spec as spec

__all__ = [
    "PROCESSING",
    "QUEUED",
    "TERMINAL_STATUSES",
    "Charge",
    "Job",
    "RequestRecord",
    "Submission",
    "Wallet",
    "account_label",
    "format_money",
    "format_time",
]

TERMINAL_STATUSES: Final = spec.TERMINAL_STATUSES
# The lifecycle before the end: the spec's first and last non-terminal statuses.
_WAITING: Final = [status for status in spec.JOB_STATUSES if status not in TERMINAL_STATUSES]
QUEUED: Final = _WAITING[0]
PROCESSING: Final = _WAITING[-1]


def format_money(amount: Decimal) -> str:
    """Format an amount as the API's Money string, such as `"$0.02"` (at least cents)."""
    whole, _, fraction = f"{amount:f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def format_time(moment: datetime) -> str:
    """Format a UTC time as RFC 3339 with milliseconds and a `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def account_label(token: str) -> str:
    """A stable account name for a token that does not reveal the token."""
    return "acct_" + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(slots=True)
class Wallet:
    """One token's account.

    Attributes:
        account: Token-free label, used in the ledger and the logs.
        balance: What is left to spend.
        revoked: A revoked token gets 403.
        reserved: Prices of this account's jobs that have not reached a terminal status yet.
    """

    account: str
    balance: Decimal
    revoked: bool = False
    reserved: Decimal = Decimal(0)


@dataclass(slots=True)
class Job:
    """One generation job; its status is derived from the clock.

    Attributes:
        job_id: `job_` and 16 hex digits.
        account: The owning wallet's label.
        prompt: The prompt as submitted.
        mode: One of the spec's modes.
        image: Decoded source image bytes, or None.
        image_strength: Blend factor for `image` (the spec's default when omitted), or None
            without image.
        created_at: Wall-clock creation time (UTC).
        created_mono: Monotonic creation time, for the lifecycle.
        queued_seconds: Time spent queued.
        processing_seconds: Time spent processing.
        outcome: The terminal status it will reach.
        price: The mode's price, reserved until terminal and charged if complete.
        settled: Whether the terminal status has been accounted for (charge or release).
        extra: The request's other fields the spec declares (say a `seed`), as sent; an
            answer that declares a field of the same name echoes it.
    """

    job_id: str
    account: str
    prompt: str
    mode: str
    image: bytes | None
    image_strength: float | None
    created_at: datetime
    created_mono: float
    queued_seconds: float
    processing_seconds: float
    outcome: str
    price: Decimal
    settled: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def done_mono(self) -> float:
        """Monotonic time at which the job reaches its terminal status."""
        return self.created_mono + self.queued_seconds + self.processing_seconds

    def status_at(self, now: float) -> str:
        """The job's status at monotonic time `now`."""
        elapsed = now - self.created_mono
        if elapsed < self.queued_seconds:
            return QUEUED
        if elapsed < self.queued_seconds + self.processing_seconds:
            return PROCESSING
        return self.outcome

    def updated_at(self, status: str) -> datetime | None:
        """Time of the last status change for `status`, None while still queued."""
        if status == QUEUED:
            return None
        if status == PROCESSING:
            return self.created_at + timedelta(seconds=self.queued_seconds)
        return self.created_at + timedelta(seconds=self.queued_seconds + self.processing_seconds)


@dataclass(frozen=True, slots=True)
class Charge:
    """One wallet charge, written when a job completes.

    Attributes:
        job_id: The completed job.
        account: Token-free label of the charged wallet.
        mode: The job's mode.
        amount: What was charged.
        time: When the job completed (UTC).
    """

    job_id: str
    account: str
    mode: str
    amount: Decimal
    time: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (amount as a Money string)."""
        return {
            "job_id": self.job_id,
            "account": self.account,
            "mode": self.mode,
            "amount": format_money(self.amount),
            "time": format_time(self.time),
        }


@dataclass(frozen=True, slots=True)
class Submission:
    """One job created by `POST /v1/generate`.

    Attributes:
        job_id: The job.
        account: Token-free label of the owning wallet.
        prompt: The prompt.
        mode: The mode.
        has_image: Whether an input image was sent.
        status: Status at the time of reading.
        final_status: The terminal status the job reaches (or has reached).
        created_at: Creation time (UTC).
    """

    job_id: str
    account: str
    prompt: str
    mode: str
    has_image: bool
    status: str
    final_status: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "job_id": self.job_id,
            "account": self.account,
            "prompt": self.prompt,
            "mode": self.mode,
            "has_image": self.has_image,
            "status": self.status,
            "final_status": self.final_status,
            "created_at": format_time(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the sandbox answered. Token values are never recorded.

    Attributes:
        method: HTTP method.
        path: URL path, without the query.
        host: The `Host` header as sent (tells the API origin from the image origin).
        has_authorization: Whether an `Authorization` header was present.
        status: Status code answered, or 0 if the connection was dropped before one.
        request_id: The `X-Request-Id` answered.
        time: When the request arrived (UTC).
    """

    method: str
    path: str
    host: str
    has_authorization: bool
    status: int
    request_id: str
    time: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "method": self.method,
            "path": self.path,
            "host": self.host,
            "has_authorization": self.has_authorization,
            "status": self.status,
            "request_id": self.request_id,
            "time": format_time(self.time),
        }
