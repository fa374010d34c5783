"""`sharkapi status`: one poll of a job, printed as a line or as JSON."""

from __future__ import annotations

from typing import Any

import click

from sharkapi_ext import format_dollars, job_status_dict
from sharkapi_ext.cli._connection import open_client
from sharkapi_ext.cli._errors import SEE_EXIT_CODES
from sharkapi_ext.cli._options import json_option
from sharkapi_ext.cli._output import emit_json
from sharkapi_ext.cli._settings import connection_options, merge_settings

__all__ = ["status"]


@click.command(epilog=SEE_EXIT_CODES)
@click.argument("job_id")
@json_option
@connection_options
@click.pass_context
def status(ctx: click.Context, /, job_id: str, as_json: bool, **options: Any) -> None:
    """Show a job's current status (one poll; submits nothing)."""
    settings = merge_settings(ctx, **options)
    with open_client(settings) as client:
        current = client.get_job(job_id)
    if as_json:
        emit_json(job_status_dict(current))
        return
    parts = [f"job {current.job_id}: {current.status}", f"mode {current.mode}"]
    if current.cost is not None:
        parts.append(f"cost {format_dollars(current.cost)}")
    else:
        parts.append(f"estimated {format_dollars(current.estimated_cost)}")
    if current.error_code or current.error_message:
        parts.append(f"error {current.error_code}: {current.error_message}")
    if current.image_url:
        parts.append(f"image {current.image_url}")
    click.echo(", ".join(parts))
