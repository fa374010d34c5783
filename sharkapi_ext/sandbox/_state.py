"""The sandbox's in-memory state: the wallets, jobs, ledger and request log it keeps.

A job's status is a pure function of the time elapsed since its creation, computed when it is
read, so thousands of concurrent jobs cost no background task. The one side effect of time
passing, charging the wallet when a job completes, happens in `SandboxState.settle_due`, under a
lock and guarded by a per-job flag, so concurrent readers (the event loop and a test thread
calling `ledger()`) can never charge a job twice.
"""

from __future__ import annotations

import collections
import heapq
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import sharkapi_spec as spec

from ._config import SandboxConfig
from ._records import (
    TERMINAL_STATUSES,
    Charge,
    Job,
    RequestRecord,
    Submission,
    Wallet,
    account_label,
)

__all__ = [
    "MARKER_BLOCKED",
    "MARKER_FAIL",
    "MARKER_MODERATE",
    "MARKER_STATUS",
    "PRICES",
    "REQUEST_LOG_SIZE",
    "SandboxState",
]

#: Prompt marker words (matched case-insensitively anywhere in the prompt).
MARKER_FAIL: Final = "[fail]"
MARKER_MODERATE: Final = "[moderate]"
MARKER_BLOCKED: Final = "[blocked]"
#: `[status:NAME]` ends the job with any terminal status the spec lists (say a status
#: added by a later release), with error code `job_NAME` unless it is the success status.
MARKER_STATUS: Final = re.compile(r"\[status:([a-z0-9_]+)\]")
_FAILED: Final = "failed"
_MODERATED: Final = "moderated"

#: List price of each mode (the spec's x-sharkapi-modes).
PRICES: Final = spec.MODE_PRICES

#: How many requests the log keeps: enough for any test, bounded for long benchmark runs.
REQUEST_LOG_SIZE: Final = 200_000


@dataclass(slots=True)
class _Limiter:
    stamps: collections.deque[float] = field(default_factory=collections.deque)


class SandboxState:
    """Everything the sandbox remembers; safe to read from any thread.

    Args:
        config: The initial configuration; faults may later change through `set_faults`.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self, config: SandboxConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._clock = clock
        # One lock for everything: critical sections are a few dict operations, and the
        # event loop is a single thread, so contention only comes from test threads.
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self._wallets: dict[str, Wallet] = {}
        self._accounts: dict[str, Wallet] = {}  # account label -> wallet, for settling
        self._jobs: dict[str, Job] = {}
        self._pending: list[tuple[float, str]] = []  # heap of (done_mono, job_id)
        self._ledger: list[Charge] = []
        self._order: list[str] = []  # job ids in creation order
        self._requests: collections.deque[RequestRecord] = collections.deque(
            maxlen=REQUEST_LOG_SIZE
        )
        self._limiters: dict[str, _Limiter] = {}

    @property
    def config(self) -> SandboxConfig:
        """The configuration in force."""
        return self._config

    def now(self) -> float:
        """The monotonic clock."""
        return self._clock()

    def set_faults(self, **changes: Any) -> SandboxConfig:
        """Change fault settings at run time; see `SandboxConfig.with_faults`."""
        with self._lock:
            self._config = self._config.with_faults(**changes)
            if "seed" in changes:
                self._rng = random.Random(self._config.seed)
            return self._config

    def draw(self, rate: float) -> bool:
        """True with probability `rate`."""
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    # -- wallets ---------------------------------------------------------------------------

    def add_token(
        self, token: str, *, balance: Decimal | None = None, revoked: bool = False
    ) -> str:
        """Create or replace a token's wallet; returns the account label."""
        wallet = Wallet(
            account=account_label(token),
            balance=self._config.default_balance if balance is None else balance,
            revoked=revoked,
        )
        with self._lock:
            old = self._wallets.get(token)
            if old is not None:
                # Jobs in flight still hold their reservation on the account.
                wallet.reserved = old.reserved
            self._wallets[token] = wallet
            self._accounts[wallet.account] = wallet
        return wallet.account

    def wallet(self, token: str) -> Wallet | None:
        """The token's wallet; auto-creates `sk_test_` tokens when configured to."""
        with self._lock:
            wallet = self._wallets.get(token)
            if wallet is None and self._config.auto_create_tokens and token.startswith("sk_test_"):
                wallet = Wallet(account=account_label(token), balance=self._config.default_balance)
                self._wallets[token] = wallet
                self._accounts[wallet.account] = wallet
            return wallet

    def balance(self, token: str) -> Decimal | None:
        """The token's current balance after settling due jobs, None for unknown tokens."""
        self.settle_due()
        with self._lock:
            wallet = self._wallets.get(token)
            return None if wallet is None else wallet.balance

    def over_rate_limit(self, token: str) -> bool:
        """Count one request for `token`; True if it is above `rate_limit_per_second`."""
        limit = self._config.rate_limit_per_second
        if limit is None:
            return False
        now = self._clock()
        with self._lock:
            limiter = self._limiters.setdefault(token, _Limiter())
            stamps = limiter.stamps
            while stamps and stamps[0] <= now - 1.0:
                stamps.popleft()
            if len(stamps) >= limit:
                return True
            stamps.append(now)
            return False

    # -- jobs ------------------------------------------------------------------------------

    def settle_due(self) -> None:
        """Account for every job whose terminal time has passed: charge completed ones once."""
        now = self._clock()
        with self._lock:
            self._settle_locked(now)

    def _settle_locked(self, now: float) -> None:
        pending = self._pending
        while pending and pending[0][0] <= now:
            _, job_id = heapq.heappop(pending)
            job = self._jobs[job_id]
            if job.settled:  # pragma: no cover - each job is pushed once; belt and braces
                continue
            job.settled = True
            wallet = self._accounts.get(job.account)
            if wallet is not None:
                wallet.reserved -= job.price
                if job.outcome in spec.CHARGED_STATUSES:
                    wallet.balance -= job.price
            if job.outcome in spec.CHARGED_STATUSES:
                done = job.created_at + timedelta(
                    seconds=job.queued_seconds + job.processing_seconds
                )
                self._ledger.append(Charge(job.job_id, job.account, job.mode, job.price, done))

    def submit(
        self,
        wallet: Wallet,
        *,
        prompt: str,
        mode: str,
        image: bytes | None,
        image_strength: float | None,
        extra: Mapping[str, Any] | None = None,
    ) -> Job | Decimal:
        """Create a job, or return the spendable amount if the wallet cannot cover its price."""
        # A mode the spec adds without a price is charged the highest price, never nothing.
        price = PRICES.get(mode, spec.MAX_MODE_PRICE)
        lowered = prompt.casefold()
        outcome = spec.SUCCESS_STATUS
        forced = MARKER_STATUS.search(lowered)
        if MARKER_FAIL in lowered:
            outcome = _FAILED
        elif MARKER_MODERATE in lowered:
            outcome = _MODERATED
        elif forced is not None and forced.group(1) in TERMINAL_STATUSES:
            outcome = forced.group(1)
        config = self._config
        now = self._clock()
        with self._lock:
            self._settle_locked(now)
            spendable = wallet.balance - wallet.reserved
            if price > spendable:
                return spendable
            job_id = "job_" + secrets.token_hex(8)
            while job_id in self._jobs:  # pragma: no cover - 64 random bits
                job_id = "job_" + secrets.token_hex(8)
            job = Job(
                job_id=job_id,
                account=wallet.account,
                prompt=prompt,
                mode=mode,
                image=image,
                image_strength=(
                    spec.IMAGE_STRENGTH_DEFAULT if image_strength is None else image_strength
                )
                if image is not None
                else None,
                created_at=datetime.now(UTC),
                created_mono=now,
                queued_seconds=config.queued_seconds,
                processing_seconds=config.processing_seconds,
                outcome=outcome,
                price=price,
                extra=dict(extra or {}),
            )
            wallet.reserved += price
            self._jobs[job_id] = job
            self._order.append(job_id)
            heapq.heappush(self._pending, (job.done_mono, job_id))
            return job

    def job(self, job_id: str, account: str | None = None) -> tuple[Job, str] | None:
        """A job and its current status, after settling; None if unknown or not `account`'s."""
        now = self._clock()
        with self._lock:
            self._settle_locked(now)
            job = self._jobs.get(job_id)
            if job is None or (account is not None and job.account != account):
                return None
            return job, job.status_at(now)

    # -- records ---------------------------------------------------------------------------

    def log_request(self, record: RequestRecord) -> None:
        """Append one request to the log."""
        self._requests.append(record)  # deque.append is atomic; no lock needed

    def ledger(self) -> list[Charge]:
        """Every charge so far, oldest first, after settling due jobs."""
        now = self._clock()
        with self._lock:
            self._settle_locked(now)
            return list(self._ledger)

    def submissions(self) -> list[Submission]:
        """Every job created, oldest first, after settling due jobs."""
        now = self._clock()
        with self._lock:
            self._settle_locked(now)
            jobs = [self._jobs[job_id] for job_id in self._order]
            return [
                Submission(
                    job_id=job.job_id,
                    account=job.account,
                    prompt=job.prompt,
                    mode=job.mode,
                    has_image=job.image is not None,
                    status=job.status_at(now),
                    final_status=job.outcome,
                    created_at=job.created_at,
                )
                for job in jobs
            ]

    def requests(self) -> list[RequestRecord]:
        """The request log, oldest first (the last `REQUEST_LOG_SIZE` requests)."""
        return list(self._requests)
