"""The `sharkapi` click application: options, commands and error handling."""

from __future__ import annotations

import contextlib
import sys
from decimal import Decimal
from typing import Any

import click

from sharkapi_ext import (
    SharkAPIError,
)
from sharkapi_ext.cli._commands.batch import batch
from sharkapi_ext.cli._commands.generate import generate
from sharkapi_ext.cli._commands.status import status
from sharkapi_ext.cli._commands.wait import wait

from ._errors import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    SEE_EXIT_CODES,
    cli_message,
    exit_code_for,
)
from ._interrupt import interrupt_lines, progress
from ._params import RATE, decimal_amount
from ._resume import how_to_resume
from ._sandbox_options import fault_options
from ._settings import Settings, connection_options, merge_settings

__all__ = ["cli"]


class _Group(click.Group):
    """Turns SDK errors into one stderr line and a per-class exit code (no traceback).

    A Ctrl-C anywhere in a command, its setup and teardown included, ends with exit 130
    and a message from the command's `Progress`, never click's bare ``Aborted!``.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            # While the group's own options are read: no command has run.
            _echo_lines(["Interrupted; nothing was submitted."])
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            except SharkAPIError as exc:
                settings = ctx.find_object(Settings) or Settings()
                base_url = None if settings.sandbox else settings.base_url
                _echo_lines(cli_message(exc, base_url=base_url))
                ctx.exit(exit_code_for(exc))
        except KeyboardInterrupt as exc:
            lines = interrupt_lines(
                progress(ctx), exc, lambda job_id: how_to_resume(ctx, job_id, progress(ctx).output)
            )
            _echo_lines(lines)
            ctx.exit(EXIT_INTERRUPTED)


def _echo_lines(lines: list[str]) -> None:
    """Print lines on stderr; a second Ctrl-C meanwhile does not cut the message short."""
    for line in lines:
        for _ in range(3):
            try:
                click.echo(line, err=True)
                break
            except KeyboardInterrupt:
                continue  # the line may show twice; better than a lost job id


@click.group(
    cls=_Group, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
@connection_options
@click.version_option(package_name="sharkapi", prog_name="sharkapi")
@click.pass_context
def cli(ctx: click.Context, /, **options: Any) -> None:
    """SharkAPI from the command line: generate images, resume jobs, run batches.

    Try it with no account: sharkapi generate --sandbox "a great white shark" -o shark.png
    """
    ctx.obj = Settings()
    merge_settings(ctx, **options)


cli.add_command(batch)
cli.add_command(generate)
cli.add_command(status)
cli.add_command(wait)


@cli.command(epilog=SEE_EXIT_CODES)
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


def _register_mcp() -> None:
    # `sharkapi mcp` (the `mcp` extra): its command module needs only click; the MCP SDK
    # is imported when the command runs, so other commands never pay for it.
    from sharkapi_ext.mcp import mcp_command

    cli.add_command(mcp_command)


_register_mcp()
