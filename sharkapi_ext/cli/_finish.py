"""The end of `generate` and `wait`: save the finished job's image and say where."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import click

from sharkapi_ext import JobStatus, SharkAPI, SharkAPIError, format_dollars, job_status_dict

from ._interrupt import progress
from ._output import emit_json
from ._resume import stopped

__all__ = ["finish"]


def finish(
    ctx: click.Context,
    client: SharkAPI,
    status: JobStatus,
    output: str | None,
    *,
    as_json: bool,
    started: float,
) -> None:
    """Download the image of a complete job, then print its path and cost (or JSON).

    Args:
        ctx: The command's context (its `Progress` records the saved path).
        client: The open client.
        status: The job, complete.
        output: The ``-o`` value.
        as_json: Print one JSON object instead of text.
        started: When the command started (`time.monotonic`), for the elapsed time.
    """
    try:
        path = client.download(status, output or ".")
    except SharkAPIError as exc:
        exc.job_id = exc.job_id or status.job_id
        stopped(ctx, exc, output)
    progress(ctx).saved = str(path)
    if as_json:
        data: dict[str, Any] = job_status_dict(status)
        data["path"] = str(path)
        data["elapsed_seconds"] = round(time.monotonic() - started, 3)
        emit_json(data)
    else:
        click.echo(
            f"Saved {path} (job {status.job_id}, cost {format_dollars(status.cost or Decimal(0))})"
        )
