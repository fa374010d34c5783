"""`sharkapi generate`: submit one request, wait for the job and save its image."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import sharkapi_spec as spec

from sharkapi_ext import SharkAPIError
from sharkapi_ext.cli._connection import open_client
from sharkapi_ext.cli._display import StatusLine, is_interactive
from sharkapi_ext.cli._errors import SEE_EXIT_CODES
from sharkapi_ext.cli._fields import mode_option, pop_extra_fields, request_field_options
from sharkapi_ext.cli._finish import finish
from sharkapi_ext.cli._interrupt import progress
from sharkapi_ext.cli._options import json_option, output_option, overwrite_option, timeout_option
from sharkapi_ext.cli._output import check_destination
from sharkapi_ext.cli._resume import stopped
from sharkapi_ext.cli._settings import connection_options, merge_settings

__all__ = ["generate"]

# `generate`'s own options: a request field named like one is sent with --field only.
_GENERATE_OPTIONS = frozenset(
    {"--mode", "--image", "--strength", "--output", "--timeout", "--json", "--field"}
    | {"--base-url", "--token", "--sandbox", "--poll-interval", "--help"}
)


def _parse_strength(value: float | None, image: str | None) -> float | None:
    if value is not None and image is None:
        raise click.BadParameter("needs --image", param_hint="--strength")
    return value


@click.command(epilog=SEE_EXIT_CODES)
@click.argument("prompt")
@mode_option()
@click.option(
    "--image",
    metavar="PATH",
    type=click.Path(exists=True, dir_okay=False),
    help="Source image (PNG/JPEG).",
)
@click.option(
    "--strength",
    metavar=f"{spec.IMAGE_STRENGTH_MIN:g}..{spec.IMAGE_STRENGTH_MAX:g}",
    type=click.FloatRange(spec.IMAGE_STRENGTH_MIN, spec.IMAGE_STRENGTH_MAX),
    help=f"How much the source shapes the output (server default {spec.IMAGE_STRENGTH_DEFAULT}).",
)
@request_field_options(_GENERATE_OPTIONS)
@output_option
@overwrite_option
@timeout_option
@json_option
@connection_options
@click.pass_context
def generate(
    ctx: click.Context,
    /,
    prompt: str,
    mode: str,
    image: str | None,
    strength: float | None,
    output: str | None,
    overwrite: bool,
    timeout: float,
    as_json: bool,
    **options: Any,
) -> None:
    """Generate one image from PROMPT, wait for it and save it.

    The destination is checked before the job is submitted, so a bad -o costs nothing.
    """
    extra_fields = pop_extra_fields(options)
    settings = merge_settings(ctx, **options)
    _parse_strength(strength, image)
    check_destination(output, overwrite=overwrite)
    started = time.monotonic()
    # What a Ctrl-C must report is recorded before each step (the group prints it).
    state = progress(ctx)
    state.output = output
    with open_client(settings) as client:
        try:
            with StatusLine(interactive=is_interactive()) as line:
                state.submitting = True  # set before the request exists: a job may, from now
                job = client.submit(
                    prompt,
                    mode=mode,
                    image=Path(image) if image else None,
                    image_strength=strength,
                    extra_fields=extra_fields,
                )
                state.job_id = job.job_id
                line.set_job(job.job_id, job.status)
                status = client.wait(job, timeout=timeout, on_update=line.update)
                state.complete = True
        except SharkAPIError as exc:
            stopped(ctx, exc, output, timeout)
        finish(ctx, client, status, output, as_json=as_json, started=started)
