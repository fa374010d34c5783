"""Configuration of the sandbox: timings, wallets and fault rates."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["FAULT_RATE_FIELDS", "SandboxConfig"]

#: The fields of `SandboxConfig` that `Sandbox.set_faults` and `POST /_sandbox/faults` may change
#: at run time. Timings and balances are fixed once the server runs, because jobs already created
#: keep the durations they were created with anyway.
FAULT_RATE_FIELDS = frozenset(
    {
        "rate_429",
        "rate_503",
        "rate_503_retry_after_fraction",
        "rate_500",
        "rate_502",
        "rate_slow",
        "slow_seconds",
        "rate_drop_after_create",
        "rate_limit_per_second",
        "retry_after_seconds",
        "bad_schema",
        "wrong_status",
        "seed",
    }
)

_RATE_FIELDS = (
    "rate_429",
    "rate_503",
    "rate_503_retry_after_fraction",
    "rate_500",
    "rate_502",
    "rate_slow",
    "rate_drop_after_create",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves. Every field is optional; the defaults are a fault-free server.

    Rates are probabilities from 0 to 1, drawn independently for every request to a `/v1`
    endpoint from one random generator seeded with `seed`.

    Attributes:
        queued_seconds: Time a job spends `queued` after it is created.
        processing_seconds: Time a job then spends `processing` before its terminal status.
        default_balance: Wallet balance of the ready token and of auto-created `sk_test_` tokens.
        seed: Seed of the fault generator; None seeds from the operating system.
        auto_create_tokens: Accept any unknown token that starts with `sk_test_` as a new wallet
            with `default_balance` (handy for staging-like use). Other unknown tokens get 401.
        rate_429: Share of `/v1` requests answered 429 `rate_limited` with `Retry-After`.
        rate_503: Share of `/v1` requests answered 503 `service_unavailable`.
        rate_503_retry_after_fraction: Share of those 503s that carry `Retry-After`.
        rate_500: Share of `/v1` requests answered by a 500 HTML page.
        rate_502: Share of `/v1` requests answered by a 502 HTML page (a proxy's).
        rate_slow: Share of `/v1` requests delayed by `slow_seconds` before being handled.
        slow_seconds: Delay of a slow request.
        rate_drop_after_create: Share of successful `POST /v1/generate` whose job is created and
            whose connection is then dropped in the middle of the response.
        rate_limit_per_second: Requests per second per token above which `/v1` answers 429
            with `Retry-After`; None turns the limiter off.
        retry_after_seconds: Value of the `Retry-After` header on 429 and 503.
        bad_schema: Every `/v1` success body breaks the schema (`estimated_cost` is a number).
        wrong_status: `POST /v1/generate` answers 200 instead of 202.
    """

    queued_seconds: float = 0.5
    processing_seconds: float = 1.5
    default_balance: Decimal = Decimal("100.00")
    seed: int | None = None
    auto_create_tokens: bool = True
    rate_429: float = 0.0
    rate_503: float = 0.0
    rate_503_retry_after_fraction: float = 1.0
    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 2.0
    rate_drop_after_create: float = 0.0
    rate_limit_per_second: float | None = None
    retry_after_seconds: int = 1
    bad_schema: bool = False
    wrong_status: bool = False

    def __post_init__(self) -> None:
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name}: must be a number from 0 to 1, got {value!r}")
        for name in ("queued_seconds", "processing_seconds", "slow_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{name}: must be a number >= 0, got {value!r}")
        if not isinstance(self.default_balance, Decimal):
            # A float balance would make the wallet arithmetic inexact; refuse it early.
            raise TypeError(f"default_balance: must be a Decimal, got {self.default_balance!r}")
        rps = self.rate_limit_per_second
        if rps is not None and (
            isinstance(rps, bool) or not isinstance(rps, int | float) or rps <= 0
        ):
            raise ValueError(f"rate_limit_per_second: must be None or > 0, got {rps!r}")
        ra = self.retry_after_seconds
        if isinstance(ra, bool) or not isinstance(ra, int) or ra < 0:
            raise ValueError(f"retry_after_seconds: must be an int >= 0, got {ra!r}")

    def with_faults(self, **changes: Any) -> SandboxConfig:
        """Return a copy with some fault settings changed.

        Args:
            **changes: Fields named in `FAULT_RATE_FIELDS` and their new values.

        Returns:
            The new configuration.

        Raises:
            ValueError: A name is not a fault setting, or a value is out of range.
            TypeError: A value has the wrong type.
        """
        unknown = sorted(set(changes) - FAULT_RATE_FIELDS)
        if unknown:
            raise ValueError(
                f"not fault settings: {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(FAULT_RATE_FIELDS))}"
            )
        return dataclasses.replace(self, **changes)

    def faults_dict(self) -> dict[str, Any]:
        """The fault settings as a JSON-ready mapping."""
        return {name: getattr(self, name) for name in sorted(FAULT_RATE_FIELDS)}
