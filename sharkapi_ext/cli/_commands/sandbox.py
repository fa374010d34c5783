"""`sharkapi sandbox`: a local SharkAPI sandbox in the foreground, its faults as options."""

from __future__ import annotations

import contextlib
import sys
from decimal import Decimal
from typing import Any

import click

from sharkapi_ext.cli._errors import SEE_EXIT_CODES
from sharkapi_ext.cli._params import RATE, decimal_amount
from sharkapi_ext.cli._sandbox_options import fault_options

__all__ = ["sandbox"]


@click.command(epilog=SEE_EXIT_CODES)
@click.option("--host", metavar="HOST", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    metavar="PORT",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="0 picks a free port (the banner shows which).",
)
@click.option(
    "--job-seconds",
    metavar="SECONDS",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="How long a job takes (a quarter queued, the rest processing).",
)
@click.option(
    "--balance",
    metavar="AMOUNT",
    callback=decimal_amount,
    help="Balance of the ready token, e.g. 5.00 (default 100.00).",
)
@click.option("--seed", metavar="N", type=int, help="Seed of the fault generator.")
@fault_options(RATE)
def sandbox(
    host: str,
    port: int,
    job_seconds: float,
    balance: Decimal | None,
    seed: int | None,
    **faults: Any,
) -> None:
    """Run a local SharkAPI sandbox in the foreground until Ctrl-C.

    Faults can also be forced per request with the X-Sandbox-Fault header; see
    `sharkapi_ext.sandbox` for the marker words ([fail], [moderate], [blocked]).
    """
    from sharkapi_ext.sandbox import DEFAULT_TOKEN, SandboxConfig, serve

    settings: dict[str, Any] = {
        "queued_seconds": job_seconds / 4,
        "processing_seconds": job_seconds * 3 / 4,
        "seed": seed,
        **faults,
    }
    if balance is not None:
        settings["default_balance"] = balance
    config = SandboxConfig(**settings)

    def banner(base_url: str) -> None:
        # Printed only once the port is bound, with the real port (also for --port 0).
        click.echo(f"SharkAPI sandbox on {base_url}")
        click.echo(f"Ready token: {DEFAULT_TOKEN}")
        click.echo(
            f"Try: SHARKAPI_BASE_URL={base_url} SHARKAPI_TOKEN={DEFAULT_TOKEN} "
            'sharkapi generate "a great white shark"'
        )
        sys.stdout.flush()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve(config, host=host, port=port, log_level="warning", on_listening=banner)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {reason} "
            "(choose another --port, or --port 0 for a free one)"
        ) from None
