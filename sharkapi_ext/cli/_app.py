"""The `sharkapi` click application: options, commands and error handling."""

from __future__ import annotations

from typing import Any

import click

from sharkapi_ext import (
    SharkAPIError,
)
from sharkapi_ext.cli._commands.batch import batch
from sharkapi_ext.cli._commands.generate import generate
from sharkapi_ext.cli._commands.sandbox import sandbox
from sharkapi_ext.cli._commands.status import status
from sharkapi_ext.cli._commands.wait import wait

from ._errors import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    cli_message,
    exit_code_for,
)
from ._interrupt import interrupt_lines, progress
from ._resume import how_to_resume
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
cli.add_command(sandbox)
cli.add_command(status)
cli.add_command(wait)


def _register_mcp() -> None:
    # `sharkapi mcp` (the `mcp` extra): its command module needs only click; the MCP SDK
    # is imported when the command runs, so other commands never pay for it.
    from sharkapi_ext.mcp import mcp_command

    cli.add_command(mcp_command)


_register_mcp()
