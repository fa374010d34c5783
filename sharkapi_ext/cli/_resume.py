"""The way back to a job: the resume line, and the report of a job stopped before its image.

The resume line names the URL, never the token: it is printed and may be pasted anywhere.
"""

from __future__ import annotations

import shlex
from typing import NoReturn

import click

from sharkapi_ext import (
    DownloadError,
    InvalidRequestError,
    JobError,
    NotFoundError,
    SharkAPIError,
    WaitTimeoutError,
)

from ._errors import cli_message, exit_code_for
from ._settings import Settings

__all__ = ["how_to_resume", "resume_command", "stopped"]


def resume_command(ctx: click.Context, job_id: str, output: str | None) -> str:
    """The `sharkapi wait` command line that picks the job up again."""
    settings: Settings = ctx.find_object(Settings) or Settings()
    words = ["sharkapi", "wait", job_id]
    # Only the URL, never the token: the resume line is printed and may be pasted anywhere.
    if settings.base_url and not settings.sandbox:
        words += ["--base-url", settings.base_url]
    if output:
        words += ["-o", output]
    return shlex.join(words)


def how_to_resume(ctx: click.Context, job_id: str, output: str | None) -> str:
    """The line saying how to resume the job, or that it is gone with its sandbox."""
    settings: Settings = ctx.find_object(Settings) or Settings()
    if settings.sandbox:
        return (
            f"Job {job_id} ran in this process's sandbox, which has stopped: the job is gone "
            "with it. To resume jobs, run `sharkapi sandbox` and point --base-url at it."
        )
    return f"Resume with: {resume_command(ctx, job_id, output)}"


def stopped(
    ctx: click.Context, exc: SharkAPIError, output: str | None, timeout: float | None = None
) -> NoReturn:
    """Report an error about a job that may still give its image, with the way back to it."""
    settings: Settings = ctx.find_object(Settings) or Settings()
    job_id = exc.job_id
    if job_id is None or isinstance(exc, JobError | NotFoundError | InvalidRequestError):
        # Nothing to resume: the job ended, the API does not know it (404), or the id is
        # not one. The group prints the error; a resume hint would only send the user back.
        raise exc
    if isinstance(exc, WaitTimeoutError):
        seen = exc.last_status.status if exc.last_status is not None else "no answer yet"
        within = f" within {timeout:g} s" if timeout is not None else ""
        lines = [
            f"WaitTimeoutError: job {job_id} did not finish{within} (last status: {seen}); "
            "it may still finish"
        ]
    else:
        lines = cli_message(exc, base_url=None if settings.sandbox else settings.base_url)
        if isinstance(exc, DownloadError):
            lines.append(f"Job {job_id} is complete and paid for; only the download failed.")
    for line in lines:
        click.echo(line, err=True)
    click.echo(how_to_resume(ctx, job_id, output), err=True)
    ctx.exit(exit_code_for(exc))
