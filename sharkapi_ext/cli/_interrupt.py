"""Ctrl-C: one exit code (130) and one message, wherever the interrupt lands.

A command records how far it got in a `Progress` (kept in the click context), step by
step, *before* each step that may create or finish a paid job. The group catches every
`KeyboardInterrupt` of the command (its setup, its work, its teardown) and reports from
that record, so the message never depends on which line the signal hit:

* nothing sent yet: ``Interrupted; nothing was submitted.``
* a submit started, no id known: ``... a job may have been created.``
* the id known: the job, and how to resume it; once it is complete, that it is paid for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import click

from sharkapi_ext import JobOutcome, job_outcome

__all__ = ["JobOutcome", "Progress", "interrupt_lines", "job_outcome", "progress"]

_KEY: Final = "sharkapi.progress"


@dataclass
class Progress:
    """How far a command got: what a Ctrl-C now must report.

    Attributes:
        submitting: A submit was started: from here on a job may exist, paid for.
        job_id: The job, once its id is known.
        complete: The job finished; only saving its image remained.
        saved: Where its image was saved, once it was.
        output: The ``-o`` the command was given (for the resume command).
        batch: The command is a batch, which resumes from its journal.
    """

    submitting: bool = False
    job_id: str | None = None
    complete: bool = False
    saved: str | None = None
    output: str | None = None
    batch: bool = False


def progress(ctx: click.Context) -> Progress:
    """The command's `Progress` (one per invocation; `Context.meta` is shared by the chain)."""
    found = ctx.meta.get(_KEY)
    if not isinstance(found, Progress):
        found = ctx.meta[_KEY] = Progress()
    return found


def interrupt_lines(
    state: Progress, exc: BaseException, how_to_resume: Callable[[str], str]
) -> list[str]:
    """The lines printed on stderr when a command is interrupted.

    Args:
        state: How far the command got.
        exc: The interrupt.
        how_to_resume: Gives the resume line for a job id.

    Returns:
        The message, first line ``Interrupted...``.
    """
    if state.batch:
        # Every step is in the journal already; the same command picks up from there.
        return ["Interrupted. Run the same command again to resume the batch."]
    outcome = job_outcome(exc)
    job_id = state.job_id or outcome.job_id
    if job_id is None:
        if state.submitting or outcome.may_exist:
            return ["Interrupted before the job id was known; a job may have been created."]
        return ["Interrupted; nothing was submitted."]
    if state.saved is not None:
        return [f"Interrupted. Job {job_id} is complete; its image is saved: {state.saved}"]
    if state.complete:
        first = f"Interrupted. Job {job_id} is complete and paid for; its image was not saved."
    else:
        first = f"Interrupted. Job {job_id} is still running."
    return [first, how_to_resume(job_id)]
