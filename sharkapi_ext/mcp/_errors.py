"""SDK errors as MCP tool errors: what happened, and what the assistant should do next.

`describe` maps an exception to a `Failure`. The facts (could a paid job exist, its id,
is submitting again safe, is it the account's problem) are the exception's own
(`SharkAPIError.job_may_exist`, ``job_id``, ``retry_safe``, ``account_problem``, and
`job_outcome` for an interruption): this module never decides them from the exception's
type, it only words them. The words come from `_ADVICE`, one entry per class whose
advice is its own; order matters there: subclasses come before their parents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from sharkapi_ext import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    DownloadError,
    InsufficientBalanceError,
    InvalidRequestError,
    JobFailedError,
    JobModeratedError,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    SharkAPIError,
    SpendCapExceededError,
    WaitTimeoutError,
    job_outcome,
)

from ._guard import PathNotAllowedError

__all__ = ["Failure", "describe"]

_NO_RESUBMIT = (
    "Do NOT call generate_image again for this request: that could pay for a second image."
)
_OUTCOME_UNKNOWN = (
    "the submit may have reached the API, so a job may exist and may be charged when it "
    f"completes, but its id is unknown. {_NO_RESUBMIT} Tell the user; list_jobs shows this "
    "submit. If the user finds the job id (for example in the SharkAPI dashboard), call "
    "wait_for_job with it."
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
        job_may_exist: A job (which may be charged) may exist, with or without an id.
        retry_safe: Calling ``generate_image`` again for this request cannot pay twice.
        account_problem: The user must fix the account (token, wallet) first.
    """

    kind: str
    error: str
    message: str
    what_to_do: str
    job_id: str | None = None
    job_may_exist: bool = False
    retry_safe: bool = True
    account_problem: bool = False

    def text(self) -> str:
        """The error as one paragraph: the kind, the message, the job id, the advice."""
        job = f" Job id: {self.job_id}." if self.job_id else ""
        message = self.message.rstrip(". ")
        return f"{self.error} ({self.kind}): {message}.{job} What to do: {self.what_to_do}"

    def about_job(self, job_id: str, *, submitted: bool) -> Failure:
        """This failure about `job_id`, which exists: it names the job and how to resume it.

        After the call's own submit was answered 2xx (`submitted`), calling
        ``generate_image`` again would pay for a second job: advice that says retrying
        is safe is replaced.
        """
        if submitted and self.retry_safe:
            return replace(
                self,
                job_id=job_id,
                job_may_exist=True,
                retry_safe=False,
                what_to_do=f"tell the user; job {job_id} was submitted and may be charged: "
                f'call wait_for_job with job_id="{job_id}" later. {_NO_RESUBMIT}',
            )
        if self.job_id is not None:
            return self
        if self.kind == "not_found":  # the id the model gave names no job of this account
            return replace(self, job_id=job_id)
        return replace(
            self,
            job_id=job_id,
            job_may_exist=True,
            retry_safe=False,
            what_to_do=f"{self.what_to_do} Job {job_id} exists: call wait_for_job with "
            f'job_id="{job_id}" later; do not submit it again.',
        )


def _resume(job_id: str | None) -> str:
    if job_id:
        return f'call wait_for_job with job_id="{job_id}". {_NO_RESUBMIT}'
    return _NO_RESUBMIT


def _retry_later(exc: SharkAPIError) -> str:
    if not exc.retry_safe:
        return _resume(exc.job_id)
    seconds = getattr(exc, "retry_after", None)
    when = f"after {seconds:g} seconds" if seconds is not None else "after a short pause"
    return f"no job was created and nothing was charged; call the same tool again {when}."


_Advice = Callable[[SharkAPIError], tuple[str, str]]

# (class, advice(exc) -> (kind, what_to_do)): the words only; the facts are the exception's.
_ADVICE: Final[tuple[tuple[type[SharkAPIError], _Advice], ...]] = (
    (
        SpendCapExceededError,
        lambda e: (
            "spend_cap",
            "tell the user the session's spend cap is reached. Only the user can raise it, "
            "by restarting the server with a higher --max-cost; no tool can.",
        ),
    ),
    (
        PathNotAllowedError,
        lambda e: (
            "path_not_allowed",
            "ask the user to copy the image into an allowed directory, or to restart the "
            "server with --allow-dir for its directory. Nothing was charged.",
        ),
    ),
    (
        InvalidRequestError,
        lambda e: (
            "invalid_argument",
            "fix the argument named in the message and call again; nothing was sent or charged.",
        ),
    ),
    (
        ModerationError,
        lambda e: (
            "moderated",
            "the prompt or source image was rejected by content moderation; no job was "
            "created and nothing was charged. Do not retry it unchanged; rephrase only if "
            "the user wants.",
        ),
    ),
    (
        JobModeratedError,
        lambda e: (
            "moderated",
            "the job was moderated and is not charged. Do not resubmit the same prompt; "
            "rephrase only if the user wants (a new, separately paid job).",
        ),
    ),
    (
        JobFailedError,
        lambda e: (
            "job_failed",
            "the job failed and is not charged. Submitting again is a new, separately paid "
            "job: ask the user first.",
        ),
    ),
    (
        InsufficientBalanceError,
        lambda e: (
            "insufficient_balance",
            "the SharkAPI wallet cannot pay for this job; nothing was charged. Tell the user "
            "to top up their balance; do not retry until they have.",
        ),
    ),
    (
        AuthenticationError,
        lambda e: (
            "auth",
            "the API token is missing or invalid. The user must set SHARKAPI_TOKEN in this "
            "MCP server's env block in the host config and restart the server. Never ask "
            "the user to paste a token into the conversation.",
        ),
    ),
    (
        PermissionDeniedError,
        lambda e: (
            "auth",
            "the API token is revoked or the account suspended. The user must fix it with "
            "SharkAPI and set a valid SHARKAPI_TOKEN in the host config. Never ask the user "
            "to paste a token into the conversation.",
        ),
    ),
    (
        NotFoundError,
        lambda e: (
            "not_found",
            "no such job for this account: check the job id (list_jobs shows this "
            "session's jobs). Do not submit a new job instead unless the user asks.",
        ),
    ),
    (RateLimitError, lambda e: ("rate_limited", _retry_later(e))),
    (ServiceUnavailableError, lambda e: ("service_unavailable", _retry_later(e))),
    (
        DownloadError,
        lambda e: (
            "download_failed",
            "the job is finished but its image could not be saved; "
            + (_resume(e.job_id) if e.job_id else "try again later."),
        ),
    ),
    (WaitTimeoutError, lambda e: ("pending", _resume(e.job_id))),
)


def _fallback(exc: SharkAPIError) -> tuple[str, str]:
    """The words for an error without advice of its own."""
    if isinstance(exc, APIConnectionError | APIStatusError):
        if exc.retry_safe:
            return "service_error", (
                "no job was created and nothing was charged; calling the same tool again in "
                "a moment is safe."
            )
        return "service_error", _resume(exc.job_id)
    return "error", _resume(exc.job_id) if exc.job_id else "tell the user what happened."


def describe(exc: BaseException) -> Failure:
    """What a tool call's exception means to the assistant, and what it should do.

    Args:
        exc: The exception the call ended with: an SDK error, or anything else (a bug,
            an interruption the SDK marked as having left a job behind).

    Returns:
        The failure, with the exception's facts and the job id whenever one is known.
    """
    if not isinstance(exc, SharkAPIError):
        outcome = job_outcome(exc)
        if outcome.job_id is not None:
            what = f"tell the user; job {outcome.job_id} was submitted: {_resume(outcome.job_id)}"
        elif outcome.may_exist:
            what = (
                "tell the user; a job may have been submitted: check list_jobs before "
                f"anything else. {_NO_RESUBMIT}"
            )
        else:
            what = "tell the user; retrying this tool is safe."
        return Failure(
            kind="internal",
            error=type(exc).__name__,
            message="the MCP server hit an unexpected error",
            what_to_do=what,
            job_id=outcome.job_id,
            job_may_exist=outcome.may_exist,
            retry_safe=not outcome.may_exist,
        )
    if exc.job_may_exist and exc.job_id is None:
        kind, what = "outcome_unknown", _OUTCOME_UNKNOWN
    else:
        advice = next((advice for cls, advice in _ADVICE if isinstance(exc, cls)), _fallback)
        kind, what = advice(exc)
    return Failure(
        kind,
        type(exc).__name__,
        exc.message,
        what,
        exc.job_id,
        job_may_exist=exc.job_may_exist,
        retry_safe=exc.retry_safe,
        account_problem=exc.account_problem,
    )
