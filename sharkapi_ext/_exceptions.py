"""Every error the SDK raises, and the one function that maps HTTP statuses to them.

The tree::

    SharkAPIError
    ├── InvalidRequestError (also ValueError)   bad input, raised before anything is sent
    ├── APIStatusError                          the API answered with an error status
    │   ├── BadRequestError                     400
    │   ├── AuthenticationError                 401
    │   ├── InsufficientBalanceError            402
    │   ├── PermissionDeniedError               403
    │   ├── NotFoundError                       404
    │   ├── ModerationError                     422
    │   ├── RateLimitError                      429 (retry_after)
    │   ├── ServiceUnavailableError             503 (retry_after)
    │   └── InternalServerError                 any other 5xx
    ├── APIConnectionError                      no usable answer arrived
    │   ├── APITimeoutError                     ... within the time allowed
    │   └── SubmissionOutcomeUnknownError       a submit may have created a job anyway
    ├── UnexpectedResponseError                 an answer that does not parse
    ├── DownloadError                           an image could not be fetched or is not an image
    ├── ClientClosedError (also RuntimeError)   the client was closed; nothing was sent
    ├── SpendCapExceededError                   a submit would pass the spend cap; nothing was sent
    ├── JobError                                a job ended without an image
    │   ├── JobFailedError                      status "failed"
    │   └── JobModeratedError                   status "moderated"
    └── WaitTimeoutError                        wait() ran past its deadline

Every error that concerns a known job carries its `job_id`, so paid work can always be
found again (`client.wait(err.job_id)`), and every error says whether a paid job may
exist (`job_may_exist`), whether submitting the same request again is safe
(`retry_safe`: it cannot pay twice) and whether the problem is the account's
(`account_problem`: 401, 402, 403; retrying cannot help until the user acts). That is
decided here and in the flows, once; the CLI, the batch runner and the MCP server read
the attributes instead of rebuilding the answer from exception types. An interruption
that is not an SDK error (``asyncio.CancelledError``, ``KeyboardInterrupt``) while a
submit may have reached the API gets the same record: a note, attributes, and a warning
on the ``sharkapi`` logger; `job_outcome` reads it from any exception. No message, repr
or attribute ever holds the bearer token: the SDK never puts it there, and a `Redactor`
(`_redaction`) cuts it out of whatever a server sends back (a 401 body quoting it, a proxy
page listing the request headers) before any of it is kept or shown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from sharkapi_spec import SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS

if TYPE_CHECKING:
    import httpx  # annotations only: `import sharkapi_ext` stays free of the HTTP stack

    from ._models import JobStatus

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "DownloadError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidRequestError",
    "JobError",
    "JobFailedError",
    "JobModeratedError",
    "JobOutcome",
    "ModerationError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "SharkAPIError",
    "SpendCapExceededError",
    "SubmissionOutcomeUnknownError",
    "UnexpectedResponseError",
    "WaitTimeoutError",
    "job_outcome",
]

# The vendor's page: "503 ... Retry after 30 seconds." (the spec's
# x-sharkapi-default-retry-after-seconds).
DEFAULT_503_RETRY_AFTER = SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS
# Error bodies are kept for debugging, but a hostile or broken server must not be able
# to put megabytes into an exception message.
_MAX_MESSAGE_CHARS = 500


logger = logging.getLogger("sharkapi")


class SharkAPIError(Exception):
    """Root of every error the SDK raises.

    Attributes:
        message: What went wrong, in one sentence.
        job_id: The job concerned, when one is known; resume it with `wait(job_id)`.
        account_problem: True when the account must be fixed first (401 token, 402
            wallet, 403 revoked or suspended): retrying cannot help until the user acts.
    """

    account_problem: bool = False
    job_id: str | None = None  # set by __init__; the class default keeps every read safe
    # None: a job may exist exactly when the error names one. Classes and flows that
    # know better (a submit that may have reached the API) set True or False.
    _job_may_exist: bool | None = None
    # None: submitting again is safe exactly when no job may exist. `JobError` knows
    # better: its job ended without an image, and is never charged.
    _retry_safe: bool | None = None

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id

    @property
    def job_may_exist(self) -> bool:
        """Whether a job (which may be charged when it completes) may exist.

        True when the error names a job, and when a submit may have created one whose
        id is unknown (`SubmissionOutcomeUnknownError`, a 5xx or an unreadable 2xx
        answer to a submit). Resubmitting the same request then risks paying twice.
        """
        if self._job_may_exist is not None:
            return self._job_may_exist
        return self.job_id is not None

    @job_may_exist.setter
    def job_may_exist(self, value: bool) -> None:
        self._job_may_exist = value

    @property
    def retry_safe(self) -> bool:
        """Whether submitting the same request again cannot pay twice for it.

        False while a job that may be charged may exist (`job_may_exist`): resume that
        job instead. True when no job was created, and when the job named ended without
        an image (`JobError`: never charged). Reads (`get_job`, `wait`, `download`)
        submit nothing and can always be repeated; this is about submitting again.
        """
        if self._retry_safe is not None:
            return self._retry_safe
        return not self.job_may_exist

    def __str__(self) -> str:
        if self.job_id and self.job_id not in self.message:
            return f"{self.message} (job {self.job_id})"
        return self.message


class InvalidRequestError(SharkAPIError, ValueError):
    """An argument broke a documented limit; nothing was sent.

    Attributes:
        field: The argument at fault, such as ``"prompt"`` or ``"image_strength"``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class APIStatusError(SharkAPIError):
    """The API answered with an error status.

    Attributes:
        status_code: The HTTP status.
        code: The API's machine-readable error code (``error.code``), if the body had one.
        request_id: The server's request id header, if it sent one.
        body: The parsed JSON body, or the body's text when it is not JSON.
        headers: The response headers.
    """

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        request_id: str | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}


class BadRequestError(APIStatusError):
    """400: the API rejected the request's fields."""


class AuthenticationError(APIStatusError):
    """401: the bearer token is missing or malformed."""

    account_problem = True


class InsufficientBalanceError(APIStatusError):
    """402: the wallet cannot pay for this job; top up first."""

    account_problem = True


class PermissionDeniedError(APIStatusError):
    """403: the token is revoked or the account suspended."""

    account_problem = True


class NotFoundError(APIStatusError):
    """404: no such job for this account."""

    _job_may_exist = False  # the API says there is none (for this account)


class ModerationError(APIStatusError):
    """422: the prompt or image failed content moderation (not charged)."""


class _RetryAfterMixin(APIStatusError):
    retry_after: float | None
    """Seconds the server asked to wait, or None when it did not say."""


class RateLimitError(_RetryAfterMixin):
    """429: too many requests; `retry_after` says how long to wait, when known."""


class ServiceUnavailableError(_RetryAfterMixin):
    """503: generation is down for now; `retry_after` defaults to the spec's 503 wait."""


class InternalServerError(APIStatusError):
    """Any other 5xx. After a submit, the job may exist: it is never resubmitted."""


class APIConnectionError(SharkAPIError):
    """No usable answer arrived: the connection failed or broke."""


class APITimeoutError(APIConnectionError):
    """No answer arrived within the time allowed."""


class SubmissionOutcomeUnknownError(APIConnectionError):
    """A submit broke after it may have reached the server.

    A job may exist and may be charged when it completes. The SDK does not resubmit it
    (that could pay twice); check your jobs before submitting the same prompt again.
    """

    _job_may_exist = True


class UnexpectedResponseError(SharkAPIError):
    """An answer that does not parse: HTML, truncated JSON, a missing or mistyped field.

    Attributes:
        status_code: The HTTP status of that answer.
        body: Its text (cut to a few hundred characters).
    """

    def __init__(
        self, message: str, *, status_code: int, body: str = "", job_id: str | None = None
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.status_code = status_code
        self.body = body


class DownloadError(SharkAPIError):
    """The image could not be fetched, was too large, or is not a PNG or JPEG.

    Attributes:
        status_code: The HTTP status of the image host's answer, when it answered.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, job_id: str | None = None
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.status_code = status_code


class ClientClosedError(SharkAPIError, RuntimeError):
    """The client (or the ``http_client`` it sends through) was closed; nothing was sent."""


class SpendCapExceededError(SharkAPIError):
    """A submit would take the worst-case spend past the cap; nothing was sent.

    Attributes:
        cap: The cap, in dollars.
        counted: What was already counted, in dollars.
        price: The worst-case price of the refused submit.
    """

    def __init__(self, *, cap: Decimal, counted: Decimal, price: Decimal) -> None:
        super().__init__(
            f"spend cap reached: ${counted:.2f} of the ${cap:.2f} cap is already counted, "
            f"and this job could cost ${price:.2f}; nothing was sent"
        )
        self.cap: Decimal = cap
        self.counted: Decimal = counted
        self.price: Decimal = price


class JobError(SharkAPIError):
    """A job ended without an image (never charged).

    Attributes:
        status: The job's final `JobStatus`.
        code: The job's ``error.code``, if any.
    """

    _retry_safe = True  # the job ended without an image: it is never charged

    def __init__(self, message: str, *, status: JobStatus) -> None:
        super().__init__(message, job_id=status.job_id)
        self.status: JobStatus = status
        self.code: str | None = status.error_code


class JobFailedError(JobError):
    """The job ended with status ``failed``."""


class JobModeratedError(JobError):
    """The job ended with status ``moderated``."""


class WaitTimeoutError(SharkAPIError):
    """`wait` reached its deadline before the job finished; the job may still finish.

    Attributes:
        last_status: The last `JobStatus` seen, or None if no poll succeeded.
    """

    def __init__(self, message: str, *, job_id: str, last_status: JobStatus | None) -> None:
        super().__init__(message, job_id=job_id)
        self.last_status = last_status


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: ModerationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def make_status_error(
    status_code: int,
    headers: httpx.Headers,
    content: bytes,
    *,
    retry_after: float | None,
    job_id: str | None = None,
    after_submit: bool = False,
) -> APIStatusError:
    """Map one error answer to its exception class; any body at all is accepted.

    Args:
        status_code: The HTTP status (4xx or 5xx).
        headers: The response headers.
        content: The raw body: JSON, HTML, empty or truncated.
        retry_after: Seconds from the Retry-After header, already parsed.
        job_id: The job concerned, if known.
        after_submit: True when this answered a submit, so a 5xx may hide a created job.
    """
    body: object
    code: str | None = None
    detail: str | None = None
    text = content.decode("utf-8", errors="replace")
    try:
        body = json.loads(text) if text else None
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deeply
        body = text[:_MAX_MESSAGE_CHARS]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("code") if isinstance(error.get("code"), str) else None
            detail = error.get("message") if isinstance(error.get("message"), str) else None
        elif isinstance(error, str):  # a common variant: {"error": "text"}
            detail = error
    elif isinstance(body, str) and body.strip():
        detail = " ".join(body.split())[:200]
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    message = f"HTTP {status_code}" + (f" {code}" if code else "")
    if detail:
        message += f": {detail[:_MAX_MESSAGE_CHARS]}"
    may_exist = after_submit and cls is InternalServerError
    if may_exist:
        message += " (the job may have been created; it was not resubmitted)"
    if cls is ServiceUnavailableError and retry_after is None:
        retry_after = DEFAULT_503_RETRY_AFTER
    error_obj = cls(
        message,
        status_code=status_code,
        code=code,
        request_id=headers.get("x-request-id") or headers.get("request-id"),
        body=body,
        headers=headers,
        job_id=job_id,
    )
    if isinstance(error_obj, _RetryAfterMixin):
        error_obj.retry_after = retry_after
    if may_exist:
        error_obj.job_may_exist = True
    return error_obj


class JobOutcome(NamedTuple):
    """What an exception says about the job of the call it ended.

    Attributes:
        may_exist: A job may have been created, and may be charged when it completes.
        job_id: Its id, when known (resume it with ``wait(job_id)``); None when the
            submit was interrupted before its answer was read.
    """

    may_exist: bool
    job_id: str | None


_NO_JOB = JobOutcome(False, None)
# The attributes an interrupted submit or generate leaves on an exception that is not
# the SDK's own (asyncio.CancelledError, KeyboardInterrupt).
_MAY_EXIST_ATTR = "sharkapi_job_may_exist"
_JOB_ID_ATTR = "sharkapi_job_id"


def job_outcome(exc: BaseException) -> JobOutcome:
    """Whether a paid job may exist after `exc` ended an SDK call, and its id when known.

    Works on the SDK's errors (`SharkAPIError.job_may_exist` and ``job_id``) and on an
    interruption of a submit or a generate (``asyncio.CancelledError``,
    ``KeyboardInterrupt``), which the SDK marks with the attributes
    ``sharkapi_job_may_exist`` and ``sharkapi_job_id`` and a note. An exception raised
    while handling a marked one (``asyncio.wait_for``'s ``TimeoutError``, a second
    Ctrl-C) carries it in its ``__context__``, which is searched too.

    Args:
        exc: Any exception an SDK call raised.

    Returns:
        ``JobOutcome(may_exist, job_id)``; ``(False, None)`` when nothing says a job
        was created.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SharkAPIError):
            return JobOutcome(current.job_may_exist, current.job_id)
        may_exist = getattr(current, _MAY_EXIST_ATTR, False)
        job_id = getattr(current, _JOB_ID_ATTR, None)
        valid = isinstance(may_exist, bool) and isinstance(job_id, str | None)
        if valid and (may_exist or job_id is not None):
            return JobOutcome(True, job_id)
        current = current.__context__
    return _NO_JOB


def record_interrupted_job(exc: BaseException, job_id: str | None) -> None:
    """Mark an interruption of a call whose job may exist: attributes, a note, a log line.

    Internal (the flows call it). Once per exception and job: an interruption passes
    through several flows on its way out (submit, then generate).
    """
    if isinstance(exc, SharkAPIError):
        exc.job_id = exc.job_id or job_id
        exc.job_may_exist = True
        return
    if getattr(exc, _MAY_EXIST_ATTR, False) and (
        job_id is None or getattr(exc, _JOB_ID_ATTR, None) == job_id
    ):
        return
    try:
        setattr(exc, _MAY_EXIST_ATTR, True)
        setattr(exc, _JOB_ID_ATTR, job_id)
    except AttributeError:  # an exception type with __slots__: the note still tells
        pass
    if job_id is not None:
        text = (
            f"SharkAPI job {job_id} was submitted and may be charged when it completes; "
            f"resume with wait({job_id!r})"
        )
    else:
        text = (
            "SharkAPI: a job may have been created (the submit was interrupted after it "
            "may have reached the API; its id is unknown); check your jobs before "
            "submitting the same prompt again"
        )
    exc.add_note(text)
    logger.warning("%s (%s)", text, type(exc).__name__)


def body_excerpt(content: bytes) -> str:
    """A short, printable excerpt of a body, for error messages."""
    return content[:_MAX_MESSAGE_CHARS].decode("utf-8", errors="replace")


def describe(exc: BaseException) -> str:
    """A one-line description of a lower-level exception, without any header values."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:_MAX_MESSAGE_CHARS]
