"""Exit codes: one per class of failure, so scripts can tell them apart without parsing text.

Whether a paid job may exist is the exception's own fact (`SharkAPIError.job_may_exist`,
decided in the core): any error that says a submit may have created a job whose id is
unknown exits 9, whatever its class (a broken connection, a 5xx or an unreadable answer
after the submit), so that no script retries it as "service trouble" and pays twice.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

from sharkapi_ext import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidRequestError,
    JobFailedError,
    JobModeratedError,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    SharkAPIError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "EXIT_AUTH",
    "EXIT_BALANCE",
    "EXIT_CODES_HELP",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_MODERATED",
    "EXIT_OK",
    "EXIT_SERVICE",
    "EXIT_TIMEOUT",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "SEE_EXIT_CODES",
    "cli_message",
    "exit_code_for",
    "one_line",
]

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_AUTH: Final = 3
EXIT_BALANCE: Final = 4
EXIT_MODERATED: Final = 5
EXIT_SERVICE: Final = 6
EXIT_FAILED: Final = 7
EXIT_TIMEOUT: Final = 8
EXIT_UNKNOWN: Final = 9
EXIT_INTERRUPTED: Final = 130

# Order matters: subclasses before their parents (APITimeoutError is an
# APIConnectionError, but means something else to a script).
_CODES: Final[tuple[tuple[type[SharkAPIError], int], ...]] = (
    (InvalidRequestError, EXIT_USAGE),
    (BadRequestError, EXIT_USAGE),
    (NotFoundError, EXIT_USAGE),
    (AuthenticationError, EXIT_AUTH),
    (PermissionDeniedError, EXIT_AUTH),
    (InsufficientBalanceError, EXIT_BALANCE),
    (ModerationError, EXIT_MODERATED),
    (JobModeratedError, EXIT_MODERATED),
    (APITimeoutError, EXIT_TIMEOUT),
    (WaitTimeoutError, EXIT_TIMEOUT),
    (RateLimitError, EXIT_SERVICE),
    (ServiceUnavailableError, EXIT_SERVICE),
    (InternalServerError, EXIT_SERVICE),
    (APIConnectionError, EXIT_SERVICE),
    (JobFailedError, EXIT_FAILED),
)

EXIT_CODES_HELP: Final = """\b
Exit codes:
  0    success
  1    any other SharkAPI error (download, unexpected answer), and an API status
       without a class of its own (one a later API release documents, say a 409):
       the message names its status, code and request id
  2    bad input or usage (InvalidRequestError, 400, 404 unknown job)
  3    authentication (401, 403 revoked token)
  4    insufficient balance (402)
  5    moderation (422 at submit, or the job was moderated)
  6    rate limit or service trouble (429, 503, other 5xx, connection), when no
       job can have been created
  7    the job failed (batch: some requests failed)
  8    timeout (the wait's deadline, or a request's)
  9    submission outcome unknown: the submit broke, or got a 5xx or an unreadable
       answer, after it may have reached the API (a job may exist; not resubmitted)
  130  interrupted (Ctrl-C): says whether a job may exist; names it, with the
       resume command, when its id is known
"""

#: Subcommands point to the table above instead of repeating it.
SEE_EXIT_CODES: Final = "Exit codes: see `sharkapi --help`."


def exit_code_for(exc: SharkAPIError) -> int:
    """The exit code for an SDK error: 9 when a job of unknown id may exist, else by class.

    The class is the first match in the table above.

    Args:
        exc: The error.

    Returns:
        An exit code from 1 to 9.
    """
    if exc.job_may_exist and exc.job_id is None:
        return EXIT_UNKNOWN
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_ERROR


def one_line(exc: BaseException) -> str:
    """`ErrorName: message` on a single line, as printed on stderr."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tried_url(exc: BaseException) -> httpx.URL | None:
    # Connection errors are raised `from` httpx's own error, which knows its request. An
    # httpx error exists only once httpx is loaded: a command that never loaded it (a
    # rerun of a finished batch) is not made to import it here.
    loaded = sys.modules.get("httpx")
    cause = exc.__cause__
    if loaded is not None and isinstance(cause, loaded.RequestError):
        try:
            url: httpx.URL = cause.request.url
            return url
        except RuntimeError:  # an httpx error made without a request
            return None
    return None


def cli_message(exc: SharkAPIError, *, base_url: str | None) -> list[str]:
    """What the command line prints for an SDK error: `ErrorName: message`, then any hints.

    The SDK's messages speak Python (``pass token=...``); this adds what a command-line
    user can change: the host that was tried, the URL that answered 404.

    Args:
        exc: The error.
        base_url: The API base URL in use (None for the default).

    Returns:
        The lines to print on stderr, the first being `ErrorName: message`.
    """
    lines = [one_line(exc)]
    if isinstance(exc, APIConnectionError):
        url = _tried_url(exc)
        if url is not None:
            origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
            name, _, message = lines[0].partition(": ")
            lines[0] = f"{name}: {origin}: {message}"
    if isinstance(exc, NotFoundError) and base_url:
        lines[0] += f" [API at {base_url}]"
        if base_url.rstrip("/").endswith("/v1"):
            suggestion = base_url.rstrip("/").removesuffix("/v1")
            lines.append(
                "Hint: the base URL ends in /v1, but the SDK adds /v1/... itself; "
                f"try --base-url {suggestion}"
            )
    return lines
