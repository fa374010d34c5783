"""Polling: one job status (`get_job`), and waiting for a job to end (`wait`).

A job has ended when its status is one the spec marks terminal
(`sharkapi_spec.TERMINAL_STATUSES`, via `JobStatus.is_terminal`); any other status,
known or not, means "not finished yet". A wait has one deadline for every poll, retry and
pause; a failed poll inside it is retried until that deadline (it only means no news).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import httpx
from sharkapi_spec import SUCCESS_STATUS

from ._exceptions import (
    JobFailedError,
    JobModeratedError,
    UnexpectedResponseError,
    WaitTimeoutError,
    body_excerpt,
)
from ._flow import Flow, OutOfTime, Sleep
from ._models import Job, JobStatus, parse_job_status
from ._requests import RequestBuilder
from ._retry import RequestKind, RetryingRequests
from ._validation import check_callback, check_job_id, check_positive

__all__ = ["Polling"]

logger = logging.getLogger("sharkapi")

# The two unsuccessful endings the SDK has its own error classes for (`JobModeratedError`,
# `JobFailedError`); any other terminal status is a `JobFailedError` that names it.
_MODERATED: Final = "moderated"
_FAILED: Final = "failed"


class Polling(RetryingRequests, RequestBuilder):
    """The polling flows. A mixin of `BaseClient` (`_core`); requests come from `_build`."""

    poll_interval: float
    _job_url_prefix: str

    def _get_job_flow(self, job: object, deadline: float | None = None) -> Flow[JobStatus]:
        job_id = check_job_id(job)
        # Job ids are checked against the spec's pattern, so they need no quoting.
        url = self._job_url_prefix + job_id

        def build(timeout: float) -> httpx.Request:
            return self._build("GET", url, timeout)

        reply = yield from self._request_flow(
            build,
            RequestKind.READ,
            job_id=job_id,
            deadline=deadline,
            until_deadline=deadline is not None,  # only inside `wait`
        )
        try:
            status = parse_job_status(reply.content, reply.status_code, reply.headers)
        except UnexpectedResponseError as exc:
            # The body may not say which job it is about; the caller asked about this one.
            exc.job_id = exc.job_id or job_id
            raise
        if status.job_id != job_id:
            raise UnexpectedResponseError(
                f"asked for job {job_id}, the API answered about job {status.job_id}",
                status_code=reply.status_code,
                body=body_excerpt(reply.content),
                job_id=job_id,
            )
        return status

    def _wait_flow(
        self,
        job: Job | JobStatus | str,
        timeout: float,
        poll_interval: float | None,
        on_update: Callable[[JobStatus], object] | None,
        *,
        deadline: float | None = None,
    ) -> Flow[JobStatus]:
        job_id = check_job_id(job)
        timeout = check_positive("timeout", timeout)
        check_callback("on_update", on_update)
        interval = (
            self.poll_interval
            if poll_interval is None
            else check_positive("poll_interval", poll_interval)
        )
        if deadline is None:
            deadline = self._clock() + timeout
        last: JobStatus | None = job if isinstance(job, JobStatus) else None
        # A job just submitted has no news yet: the first poll waits one interval.
        pause_first = isinstance(job, Job)
        polled_at = self._clock()
        while True:
            if last is not None and last.is_terminal:
                return _finish(last)
            if pause_first or last is not None:
                now = self._clock()
                remaining = deadline - now
                if remaining <= 0:
                    raise _timed_out(job_id, timeout, last)
                # Polls start `interval` apart: the time the last answer took counts, so a
                # slow answer does not push every later poll back (a job is seen done up to
                # an interval sooner under load). A quarter interval apart at the least.
                pause = max(interval - (now - polled_at), interval / 4)
                yield Sleep(min(pause, remaining))
            pause_first = False
            polled_at = self._clock()
            if polled_at >= deadline:
                raise _timed_out(job_id, timeout, last)
            try:
                status = yield from self._get_job_flow(job_id, deadline)
            except OutOfTime as out:
                raise _timed_out(job_id, timeout, last) from out.error
            if last is None or status.status != last.status:
                logger.debug("job %s is %s", job_id, status.status)
                if on_update is not None:
                    on_update(status)
            last = status


def _finish(status: JobStatus) -> JobStatus:
    """The job's result once it is terminal: its status on success, else a `JobError`.

    Any terminal status the spec adds later (say ``cancelled``) ends the wait at once
    as a `JobFailedError` naming that status.
    """
    if status.status == SUCCESS_STATUS:
        return status
    detail = status.error_message or status.error_code or "no reason given"
    if status.status == _MODERATED:
        raise JobModeratedError(f"job {status.job_id} was moderated: {detail}", status=status)
    if status.status == _FAILED:
        raise JobFailedError(f"job {status.job_id} failed: {detail}", status=status)
    raise JobFailedError(
        f"job {status.job_id} ended with status {status.status!r}: {detail}", status=status
    )


def _timed_out(job_id: str, timeout: float, last: JobStatus | None) -> WaitTimeoutError:
    seen = last.status if last is not None else "no answer yet"
    return WaitTimeoutError(
        f"job {job_id} did not finish within {timeout:g} s (last status: {seen}); it may still "
        f"finish: resume with wait({job_id!r})",
        job_id=job_id,
        last_status=last,
    )
