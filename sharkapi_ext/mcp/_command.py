"""`sharkapi mcp`: the click command. It imports only click; the MCP SDK loads when it runs."""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

__all__ = ["mcp_command"]

from ._config import (
    DEFAULT_MAX_COST,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_OUTPUT_DIR,
    ServerConfig,
)


def _amount(ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
    try:
        amount = Decimal(value.strip().removeprefix("$"))
    except InvalidOperation:
        raise click.BadParameter(f"not an amount of dollars: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(f"must be a finite amount >= 0, got {value!r}")
    return amount


def _seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise click.BadParameter(f"must be a positive, finite number of seconds, got {value!r}")
    return value


@click.command("mcp")
@click.option(
    "--sandbox",
    is_flag=True,
    default=None,
    help="Use a local sandbox started in this process (no account, no network, no cost).",
)
@click.option(
    "--base-url",
    envvar="SHARKAPI_BASE_URL",
    help="API base URL (env SHARKAPI_BASE_URL; default https://api.sharkapi.dev).",
)
@click.option(
    "--max-cost",
    metavar="DOLLARS",
    default=str(DEFAULT_MAX_COST),
    show_default=True,
    callback=_amount,
    help="Spend cap in dollars for this server's lifetime, counted at the worst-case price "
    "of every submit. No tool can raise it.",
)
@click.option(
    "--allow-dir",
    "allow_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A directory image_path may read from (repeatable; default: the current one).",
)
@click.option(
    "--output-dir",
    default=DEFAULT_OUTPUT_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The directory images are saved in.",
)
@click.option(
    "--max-wait",
    metavar="SECONDS",
    type=float,
    default=DEFAULT_MAX_WAIT_SECONDS,
    show_default=True,
    callback=_seconds,
    help="Seconds a tool call waits for a job before answering `pending` with its job id "
    "(keep it below the host's request timeout).",
)
@click.pass_context
def mcp_command(
    ctx: click.Context,
    /,
    sandbox: bool | None,
    base_url: str | None,
    max_cost: Decimal,
    allow_dirs: tuple[Path, ...],
    output_dir: Path,
    max_wait: float,
) -> None:
    """Run a Model Context Protocol server on stdio for AI assistants (the `mcp` extra).

    Tools: generate_image (paid, capped by --max-cost), wait_for_job, get_job, list_jobs.
    The token is read from SHARKAPI_TOKEN only: set it in the host config's env block.
    """
    parent: Any = ctx.parent
    if parent is not None and parent.get_parameter_source("token") is ParameterSource.COMMANDLINE:
        raise click.UsageError(
            "sharkapi mcp reads the token from SHARKAPI_TOKEN only (a command line is "
            "visible to other processes): set it in the host config's env block"
        )
    settings = parent.obj if parent is not None else None
    sandbox = bool(sandbox or getattr(settings, "sandbox", False))
    base_url = base_url or getattr(settings, "base_url", None)
    poll_interval = getattr(settings, "poll_interval", None)
    try:
        import anyio

        from ._stdio import serve_stdio
    except ImportError as exc:  # pragma: no cover - only without the mcp extra
        raise click.UsageError(
            f"sharkapi mcp needs the mcp extra: pip install 'sharkapi[mcp]' ({exc})"
        ) from exc
    # stdout carries the protocol: every log line goes to stderr, which hosts keep.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("sharkapi")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    config = ServerConfig(
        max_cost=max_cost,
        allow_dirs=allow_dirs,
        output_dir=output_dir,
        max_wait_seconds=max_wait,
    )
    # Ctrl-C in a terminal ends the server quietly; a host ends it by closing stdin.
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(
            lambda: serve_stdio(
                config, sandbox=sandbox, base_url=base_url, poll_interval=poll_interval
            ),
            backend="asyncio",
        )
