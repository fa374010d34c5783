"""The `sharkapi` group: its options, its error handling, and its commands, loaded lazily.

Each command lives in a module of its own (`_commands/`), imported only when it is
run or listed (click's pattern for lazily loading subcommands: `list_commands` names
them, `get_command` imports one), so `sharkapi batch` does not load the code of
`generate` or `sandbox`. ``sharkapi --help`` lists every command with its short help,
and so imports them all. The group's ``commands`` mapping still holds every command by
name: reading one imports its module, listing the names imports none.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Final

import click

from sharkapi_ext import SharkAPIError

from ._errors import EXIT_CODES_HELP, EXIT_INTERRUPTED, cli_message, exit_code_for
from ._interrupt import interrupt_lines, progress
from ._resume import how_to_resume
from ._settings import Settings, connection_options, merge_settings

__all__ = ["COMMANDS", "cli"]

#: Each command's name -> ``module:attribute`` of its click command, imported on first use.
COMMANDS: Final[Mapping[str, str]] = {
    "batch": "sharkapi_ext.cli._commands.batch:batch",
    "generate": "sharkapi_ext.cli._commands.generate:generate",
    # The `mcp` extra's command module needs only click; the MCP SDK is imported when the
    # command runs, so other commands never pay for it.
    "mcp": "sharkapi_ext.mcp:mcp_command",
    "sandbox": "sharkapi_ext.cli._commands.sandbox:sandbox",
    "status": "sharkapi_ext.cli._commands.status:status",
    "wait": "sharkapi_ext.cli._commands.wait:wait",
}


def _import_command(target: str) -> click.Command:
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):  # pragma: no cover - a wrong table entry
        raise TypeError(f"{target} is not a click command")
    return command


class _LazyCommands(MutableMapping[str, click.Command]):
    """A group's ``commands``: each of `COMMANDS` by name, its module imported when first read.

    Names, ``in`` and ``len`` import nothing, so ``sharkapi batch`` loads one command
    module while ``cli.commands["batch"]`` keeps working as for any click group.
    """

    def __init__(self, table: Mapping[str, str], given: Mapping[str, click.Command]) -> None:
        self._table = {name: target for name, target in table.items() if name not in given}
        self._loaded = dict(given)

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            command = self._loaded[name] = _import_command(self._table.pop(name))
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._table.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if self._table.pop(name, None) is None:
            del self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._loaded, *self._table}))

    def __len__(self) -> int:
        return len(self._loaded) + len(self._table)


class _Group(click.Group):
    """Turns SDK errors into one stderr line and a per-class exit code (no traceback).

    A Ctrl-C anywhere in a command, its setup and teardown included, ends with exit 130
    and a message from the command's `Progress`, never click's bare ``Aborted!``.
    The commands of `COMMANDS` are imported when first asked for (`_LazyCommands`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: MutableMapping[str, click.Command] = _LazyCommands(COMMANDS, self.commands)

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
