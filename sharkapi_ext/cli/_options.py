"""The options `generate` and `wait` share: where the image goes, how long to wait, JSON."""

from __future__ import annotations

import click

from ._params import SECONDS

__all__ = ["json_option", "output_option", "overwrite_option", "timeout_option"]

output_option = click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="File, or directory (existing, or ending in /), for the image "
    "(default: ./<job_id>.png). An existing file is not replaced without --overwrite.",
)
overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace the -o file if it already exists."
)
timeout_option = click.option(
    "--timeout", type=SECONDS, default=600.0, show_default=True, help="Seconds to wait for the job."
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of text."
)
