"""SDK errors as MCP tool errors: what happened, and what the assistant should do next.

One function, `describe`, maps an exception to a `Failure`; the server turns it into a
tool result with ``isError`` set. Order matters in `_ADVICE`: subclasses come before
their parents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sharkapi_ext import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    DownloadError,
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
    SubmissionOutcomeUnknownError,
    UnexpectedResponseError,
    WaitTimeoutError,
)

from ._budget import SpendCapExceededError
from ._guard import PathNotAllowedError

__all__ = ["Failure", "describe"]

_NO_RESUBMIT = (
    "Do NOT call generate_image again for this request: that could pay for a second image."
)


@dataclass(frozen=True)
class Failure:
    """One failed tool call, as the model will read it.

    Attributes:
        kind: A short machine-readable name, such as ``"moderated"``.
        error: The SDK's exception class name.
        message: What happened.
        what_to_do: The next step for the assistant.
        job_id: The job concerned, when one is known.
        job_may_exist: True when a job may exist although no id is known.
    """

    kind: str
    error: str
    message: str
    what_to_do: str
    job_id: str | None = None
    job_may_exist: bool = False

    def text(self) -> str:
        """The error as one paragraph: the kind, the message, the job id, the advice."""
        job = f" Job id: {self.job_id}." if self.job_id else ""
        message = self.message.rstrip(". ")
        return f"{self.error} ({self.kind}): {message}.{job} What to do: {self.what_to_do}"


def _resume(job_id: str | None) -> str:
    if job_id:
        return f'call wait_for_job with job_id="{job_id}". {_NO_RESUBMIT}'
    return _NO_RESUBMIT


def _retry_after(exc: SharkAPIError) -> str:
    seconds = getattr(exc, "retry_after", None)
    when = f"after {seconds:g} seconds" if seconds is not None else "after a short pause"
    return f"no job was created and nothing was charged; call the same tool again {when}."


_Advice = Callable[[SharkAPIError, str | None], tuple[str, str, bool]]

# (class, kind, advice(exc, job_id) -> (kind, what_to_do, job_may_exist))
_ADVICE: Final[tuple[tuple[type[SharkAPIError], _Advice], ...]] = (
    (
        SpendCapExceededError,
        lambda e, j: (
            "spend_cap",
            "tell the user the session's spend cap is reached. Only the user can raise it, "
            "by restarting the server with a higher --max-cost; no tool can.",
            False,
        ),
    ),
    (
        PathNotAllowedError,
        lambda e, j: (
            "path_not_allowed",
            "ask the user to copy the image into an allowed directory, or to restart the "
            "server with --allow-dir for its directory. Nothing was charged.",
            False,
        ),
    ),
    (
        InvalidRequestError,
        lambda e, j: (
            "invalid_argument",
            "fix the argument named in the message and call again; nothing was sent or charged.",
            False,
        ),
    ),
    (
        SubmissionOutcomeUnknownError,
        lambda e, j: (
            "outcome_unknown",
            "the connection broke after the submit was sent, so a job may exist and may be "
            f"charged when it completes, but its id is unknown. {_NO_RESUBMIT} Tell the user; "
            "list_jobs shows this submit. If the user finds the job id (for example in the "
            "SharkAPI dashboard), call wait_for_job with it.",
            True,
        ),
    ),
    (
        ModerationError,
        lambda e, j: (
            "moderated",
            "the prompt or source image was rejected by content moderation; no job was "
            "created and nothing was charged. Do not retry it unchanged; rephrase only if "
            "the user wants.",
            False,
        ),
    ),
    (
        JobModeratedError,
        lambda e, j: (
            "moderated",
            "the job was moderated and is not charged. Do not resubmit the same prompt; "
            "rephrase only if the user wants (a new, separately paid job).",
            False,
        ),
    ),
    (
        JobFailedError,
        lambda e, j: (
            "job_failed",
            "the job failed and is not charged. Submitting again is a new, separately paid "
            "job: ask the user first.",
            False,
        ),
    ),
    (
        InsufficientBalanceError,
        lambda e, j: (
            "insufficient_balance",
            "the SharkAPI wallet cannot pay for this job; nothing was charged. Tell the user "
            "to top up their balance; do not retry until they have.",
            False,
        ),
    ),
    (
        AuthenticationError,
        lambda e, j: (
            "auth",
            "the API token is missing or invalid. The user must set SHARKAPI_TOKEN in this "
            "MCP server's env block in the host config and restart the server. Never ask "
            "the user to paste a token into the conversation.",
            False,
        ),
    ),
    (
        PermissionDeniedError,
        lambda e, j: (
            "auth",
            "the API token is revoked or the account suspended. The user must fix it with "
            "SharkAPI and set a valid SHARKAPI_TOKEN in the host config. Never ask the user "
            "to paste a token into the conversation.",
            False,
        ),
    ),
    (
        NotFoundError,
        lambda e, j: (
            "not_found",
            "no such job for this account: check the job id (list_jobs shows this "
            "session's jobs). Do not submit a new job instead unless the user asks.",
            False,
        ),
    ),
    (
        RateLimitError,
        lambda e, j: ("rate_limited", _retry_after(e) if j is None else _resume(j), False),
    ),
    (
        ServiceUnavailableError,
        lambda e, j: (
            "service_unavailable",
            _retry_after(e) if j is None else _resume(j),
            False,
        ),
    ),
    (
        DownloadError,
        lambda e, j: (
            "download_failed",
            "the job is finished but its image could not be saved; "
            + (_resume(j) if j else "try again later."),
            False,
        ),
    ),
    (
        WaitTimeoutError,
        lambda e, j: ("pending", _resume(j), False),
    ),
)


def describe(exc: BaseException, *, submitting: bool) -> Failure:
    """What a tool call's exception means to the assistant, and what it should do.

    Args:
        exc: The exception the call ended with.
        submitting: True if it was raised by the submit of `generate_image`, where a
            server error or an unreadable answer may hide a created job.

    Returns:
        The failure, with the job id whenever one is known.
    """
    if not isinstance(exc, SharkAPIError):
        return Failure(
            kind="internal",
            error=type(exc).__name__,
            message="the MCP server hit an unexpected error",
            what_to_do=(
                "tell the user; "
                + (
                    "a job may have been submitted: check list_jobs before anything else. "
                    + _NO_RESUBMIT
                    if submitting
                    else "retrying this tool is safe."
                )
            ),
            job_may_exist=submitting,
        )
    job_id = exc.job_id
    name = type(exc).__name__
    for cls, advice in _ADVICE:
        if isinstance(exc, cls):
            kind, what, may_exist = advice(exc, job_id)
            return Failure(kind, name, exc.message, what, job_id, may_exist)
    if submitting and isinstance(exc, InternalServerError | UnexpectedResponseError):
        # The request reached the server: a job may exist (maybe with a known id).
        return Failure(
            "outcome_unknown",
            name,
            exc.message,
            (
                _resume(job_id)
                if job_id
                else "the server failed after receiving the submit, so a job may exist "
                f"and may be charged. {_NO_RESUBMIT} Tell the user; list_jobs shows this submit."
            ),
            job_id,
            job_id is None,
        )
    if isinstance(exc, APIConnectionError | APIStatusError):
        # Reads only (a submit's are above or retried by the SDK when no job can exist).
        return Failure(
            "service_error",
            name,
            exc.message,
            (_resume(job_id) if job_id else "no job was created; try again in a moment.")
            if submitting
            else "calling this tool again is safe; it submits nothing.",
            job_id,
        )
    return Failure(
        "error",
        name,
        exc.message,
        _resume(job_id) if job_id else "tell the user what happened.",
        job_id,
    )
