"""`sharkapi wait`: resume an existing job by its id and save its image."""

from __future__ import annotations

import time
from typing import Any

import click

from sharkapi_ext import SharkAPIError, check_job_id
from sharkapi_ext.cli._connection import open_client
from sharkapi_ext.cli._display import StatusLine, is_interactive
from sharkapi_ext.cli._errors import SEE_EXIT_CODES
from sharkapi_ext.cli._finish import finish
from sharkapi_ext.cli._interrupt import progress
from sharkapi_ext.cli._options import json_option, output_option, overwrite_option, timeout_option
from sharkapi_ext.cli._output import check_destination
from sharkapi_ext.cli._resume import stopped
from sharkapi_ext.cli._settings import connection_options, merge_settings

__all__ = ["wait"]


@click.command(epilog=SEE_EXIT_CODES)
@click.argument("job_id")
@output_option
@overwrite_option
@timeout_option
@json_option
@connection_options
@click.pass_context
def wait(
    ctx: click.Context,
    /,
    job_id: str,
    output: str | None,
    overwrite: bool,
    timeout: float,
    as_json: bool,
    **options: Any,
) -> None:
    """Wait for an existing job and save its image (resumes by id; submits nothing)."""
    settings = merge_settings(ctx, **options)
    job_id = check_job_id(job_id)  # before any status line: "job a b: waiting" helps no one
    check_destination(output, overwrite=overwrite)
    started = time.monotonic()
    state = progress(ctx)
    state.job_id, state.output = job_id, output
    with open_client(settings) as client:
        try:
            with StatusLine(interactive=is_interactive()) as line:
                line.set_job(job_id, "waiting")
                final = client.wait(job_id, timeout=timeout, on_update=line.update)
                state.complete = True
        except SharkAPIError as exc:
            stopped(ctx, exc, output, timeout)
        finish(ctx, client, final, output, as_json=as_json, started=started)
