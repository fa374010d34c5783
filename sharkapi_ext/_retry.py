"""When to retry, how long to wait first, and the retry flow itself; nothing here does I/O.

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
import logging
import random
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._download import shown_url
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    DownloadError,
    SharkAPIError,
    SubmissionOutcomeUnknownError,
    UnexpectedResponseError,
    body_excerpt,
    describe,
    make_status_error,
    record_interrupted_job,
)
from ._flow import MAX_ANSWER_BYTES, Fetch, Flow, OutOfTime, Reply, Send, Sleep
from ._pacing import Pacer
from ._redaction import Redactor

if TYPE_CHECKING:
    from ._download import DownloadSink

logger = logging.getLogger("sharkapi")

__all__ = ["RequestKind", "RetryPolicy", "RetryingRequests", "parse_retry_after"]


class RequestKind(Enum):
    """What a request does, which decides how it may be retried."""

    READ = "read"
    SUBMIT = "submit"


# The connection was never established, so the request cannot have reached the server.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Set by a driver on an interruption (a cancellation) that it knows came before the
# request went out: the flow then records no possible job.
UNSENT_ATTR = "_sharkapi_unsent"
# Mistakes on this side (bad URL scheme, an illegal header): retrying cannot help.
NOT_RETRYABLE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_SUBMIT_RETRY_STATUSES = frozenset({429, 503})
# The answers that say "slow down": they slow the whole client (`_pacing`).
_THROTTLE_STATUSES = frozenset({429, 503})
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


class RetryingRequests:
    """The retry flow: one request, sent again by the rules above until it succeeds.

    A mixin of `BaseClient` (`_core`), which provides the attributes declared here.
    """

    retry_policy: RetryPolicy
    timeout: float
    _clock: Callable[[], float]
    _redactor: Redactor
    _pacer: Pacer

    def _attempt_deadline(self, deadline: float | None) -> tuple[float, float]:
        now = self._clock()
        end = now + self.timeout if deadline is None else min(now + self.timeout, deadline)
        return end, max(end - now, 0.001)

    def _request_flow(
        self,
        build: Callable[[float], httpx.Request],
        kind: RequestKind,
        *,
        job_id: str | None = None,
        deadline: float | None = None,
        until_deadline: bool = False,
        fetch: Callable[[], DownloadSink] | None = None,
    ) -> Flow[Any]:
        """Send one request with the retry rules (see `_retry`).

        Returns the 2xx `Reply` (or the downloaded Path).

        A `deadline` is the calling method's own (`wait`, `download`, `generate`): every
        attempt and every pause between attempts ends by it. A pause longer than the
        time left is cut to the time left, and the last error is raised at the deadline,
        never earlier. With `until_deadline` (inside `wait`), transient failures are
        retried until that deadline rather than `max_retries` times, because a failed
        poll only means no news; running out of time then raises `OutOfTime`.
        """
        policy = self.retry_policy
        pacer = self._pacer
        retries_taken = 0
        while True:
            if fetch is None and pacer.active:
                # The client's pacing gate (`_pacing`): wait for this request's turn.
                yield from self._pace_flow(kind, deadline, until_deadline)
            attempt_end, attempt_timeout = self._attempt_deadline(deadline)
            request = build(attempt_timeout)
            cause: httpx.HTTPError | None = None
            retry_after: float | None = None
            paced = False
            try:
                if fetch is None:
                    result = yield Send(request, attempt_end)
                else:
                    result = yield Fetch(request, fetch())
            except httpx.HTTPError as exc:
                cause = exc
                error: SharkAPIError = self._connection_error(exc, kind, job_id)
                retryable = policy.should_retry_exception(exc, kind)
            except BaseException as exc:
                # A cancellation, Ctrl-C or an unexpected failure while a submit was out:
                # unless the driver knows nothing was sent, a paid job may exist, and the
                # exception on its way out must say so.
                if (
                    kind is RequestKind.SUBMIT
                    and not isinstance(exc, SharkAPIError)
                    and not getattr(exc, UNSENT_ATTR, False)
                ):
                    record_interrupted_job(exc, job_id)
                raise
            else:
                if not isinstance(result, Reply):
                    return result  # a finished download
                result = self._redact(result)
                status = result.status_code
                if fetch is None and status not in _THROTTLE_STATUSES:
                    pacer.accepted()
                if 200 <= status < 300:
                    if result.truncated:
                        raise UnexpectedResponseError(
                            f"HTTP {status} answer is over {MAX_ANSWER_BYTES} bytes",
                            status_code=status,
                            body=body_excerpt(result.content),
                            job_id=job_id,
                        )
                    return result
                if status < 400:
                    location = result.headers.get("location", "")[:200]
                    raise UnexpectedResponseError(
                        f"HTTP {status} redirect to {location!r} not followed: the API "
                        "does not redirect, and the token must not follow one",
                        status_code=status,
                        body=body_excerpt(result.content),
                        job_id=job_id,
                    )
                retry_after = parse_retry_after(result.headers.get("retry-after"))
                error = make_status_error(
                    status,
                    result.headers,
                    result.content,
                    retry_after=retry_after,
                    job_id=job_id,
                    after_submit=kind is RequestKind.SUBMIT,
                )
                retry_after = getattr(error, "retry_after", None)
                retryable = policy.should_retry_status(status, kind)
                if fetch is None and status in _THROTTLE_STATUSES:
                    pacer.throttled(retry_after)
                    # Inside generate/wait (a call with a deadline), a 429 never ends the
                    # call while time remains: the request waits its turn at the gate,
                    # which also honours the Retry-After.
                    paced = status == 429 and deadline is not None and retryable
                if fetch is not None:
                    # An image host's 403 or 404 is an expired or missing link, not a
                    # revoked token or an unknown job: it gets its own class.
                    error = DownloadError(
                        f"download of {shown_url(request.url)}: {error.message}",
                        status_code=status,
                        job_id=job_id,
                    )
            if not retryable or (
                not until_deadline and not paced and retries_taken >= policy.max_retries
            ):
                raise error from cause
            # (A paced 429 keeps its backoff too: a Retry-After of a microsecond, or
            # none, must not turn a wait into a busy loop while no rate is learned.)
            pause = policy.backoff(retries_taken, retry_after)
            if pause > policy.max_retry_after:
                error.message += (
                    f" (Retry-After {pause:.0f} s is beyond the"
                    f" {policy.max_retry_after:.0f} s this client waits)"
                )
                raise error from cause
            if deadline is not None:
                left = deadline - self._clock()
                if pause >= left:
                    # Never give up while time remains: wait out what is left (the
                    # server asked for at least that), then report at the deadline.
                    if left > 0:
                        yield Sleep(left)
                    if until_deadline:
                        raise OutOfTime(error) from cause
                    error.message += " (no time left to retry within the call's timeout)"
                    raise error from cause
            logger.info(
                "%s %s failed (%s); retry %d in %.2f s",
                request.method,
                request.url.path,
                error,
                retries_taken + 1,
                pause,
            )
            if pause > 0.0:
                yield Sleep(pause)
            retries_taken += 1

    def _pace_flow(
        self, kind: RequestKind, deadline: float | None, until_deadline: bool
    ) -> Flow[None]:
        """Wait for this request's turn at the client's pacing gate, within its deadline.

        Raises:
            OutOfTime: (inside `wait`) the deadline came first.
            APITimeoutError: No turn came within the call's deadline (or, without one,
                the client's ``timeout``); nothing was sent.
        """
        pacer = self._pacer
        submit = kind is RequestKind.SUBMIT
        delay = pacer.delay(submit)
        if delay <= 0.0:
            return
        end = deadline if deadline is not None else self._clock() + self.timeout
        pacer.waiting(submit, 1)
        try:
            while delay > 0.0:
                left = end - self._clock()
                if left <= 0.0:
                    error = APITimeoutError(
                        "no turn under the client's request rate (the API asked it to slow "
                        "down) within the timeout; nothing was sent"
                    )
                    if until_deadline:
                        raise OutOfTime(error)
                    raise error
                yield Sleep(min(delay, left))
                delay = pacer.delay(submit)
        finally:
            pacer.waiting(submit, -1)

    def _redact(self, reply: Reply) -> Reply:
        # Before anything of the answer is parsed, logged or put in an exception.
        redactor = self._redactor
        content = redactor.content(reply.content)
        headers = redactor.headers(reply.headers)
        if content is reply.content and headers is reply.headers:
            return reply
        return reply._replace(content=content, headers=headers)

    def _connection_error(
        self, exc: httpx.HTTPError, kind: RequestKind, job_id: str | None
    ) -> SharkAPIError:
        # A protocol error can quote what the server sent: that may echo the token.
        what = self._redactor.text(describe(exc))
        if kind is RequestKind.SUBMIT and not isinstance(exc, NEVER_SENT):
            # The one place that decides a broken submit may have created a job.
            return SubmissionOutcomeUnknownError(
                f"the submit broke after it may have reached the API ({what}); a job may "
                "exist and be charged when it completes, so it was NOT resubmitted",
                job_id=job_id,
            )
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"no answer in time ({what})", job_id=job_id)
        if isinstance(exc, httpx.DecodingError):
            return APIConnectionError(f"the answer could not be decoded ({what})", job_id=job_id)
        return APIConnectionError(f"connection failed ({what})", job_id=job_id)
