"""When to retry, and how long to wait first. Decisions only: nothing here does I/O.

Submitting costs money and the API has no idempotency key, so the rules differ by
request kind:

- A read (a job poll, an image download) is retried on any connection error or
  timeout, on 429, and on any 5xx.
- A submit is retried only when no job can exist: the connection was never made
  (refused, connect or pool timeout), or the API answered 429 or 503, which it sends
  before creating anything. Once the request may have reached the server (a read
  timeout, a dropped connection, a 500/502/504) it is never retried.
- 400, 401, 402, 403, 404 and 422 are never retried.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from enum import Enum

import attrs
import httpx

__all__ = ["RequestKind", "RetryPolicy", "parse_retry_after"]


class RequestKind(Enum):
    """What a request does, which decides how it may be retried."""

    READ = "read"
    SUBMIT = "submit"


# The connection was never established, so the request cannot have reached the server.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Mistakes on this side (bad URL scheme, an illegal header): retrying cannot help.
NOT_RETRYABLE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_SUBMIT_RETRY_STATUSES = frozenset({429, 503})
# Far past any max_backoff / initial_backoff ratio, far below float overflow.
_MAX_DOUBLINGS = 64


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date.

    Returns None when the header is absent or unreadable; never a negative number.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now()
    if seconds != seconds or seconds == float("inf"):  # NaN or infinite
        return None
    return max(0.0, seconds)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How many times to retry and how long to wait.

    Attributes:
        max_retries: Retries after the first attempt (0 turns retries off).
        initial_backoff: The first wait, in seconds, when the server gives no Retry-After.
        max_backoff: The longest exponential wait.
        jitter: The share of each wait that is randomised (0.25: wait 75%–100% of it),
            so many clients do not retry in step.
        max_retry_after: The longest Retry-After honoured; a longer one raises instead.
    """

    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    random: Callable[[], float] = attrs.field(default=random.random, repr=False)

    def should_retry_status(self, status_code: int, kind: RequestKind) -> bool:
        """Whether an error status may be retried for this kind of request."""
        if kind is RequestKind.SUBMIT:
            return status_code in _SUBMIT_RETRY_STATUSES
        return status_code == 429 or status_code >= 500

    def should_retry_exception(self, exc: httpx.HTTPError, kind: RequestKind) -> bool:
        """Whether a transport failure may be retried for this kind of request."""
        if isinstance(exc, NOT_RETRYABLE):
            return False
        if kind is RequestKind.SUBMIT:
            return isinstance(exc, NEVER_SENT)
        return isinstance(exc, httpx.TransportError)

    def backoff(self, retries_taken: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retries_taken + 1``; finite for any count.

        The server's Retry-After wins when it asks for at least the first backoff;
        otherwise capped exponential backoff with jitter. A tiny Retry-After (zero,
        0.000001, a past HTTP date) gets the backoff too: honoured literally, it would
        make `wait`, which retries until its deadline, hammer the API in a busy loop
        (40,000 polls a minute).
        """
        if retry_after is not None and retry_after >= self.initial_backoff:
            return retry_after
        # The exponent is capped: 2.0 ** 1024 overflows, and a long wait against a
        # refused connection reaches that many retries in about two hours.
        doublings = min(max(retries_taken, 0), _MAX_DOUBLINGS)
        base = min(self.initial_backoff * 2.0**doublings, self.max_backoff)
        return base * (1.0 - self.jitter * self.random())
