"""Where and how to connect: the connection options and the `Settings` they fill.

Every command accepts the connection options after its name as well as before it
(``sharkapi --sandbox generate ...`` and ``sharkapi generate --sandbox ...``); one
`Settings` object per invocation merges both, and a value given after the command name
wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
import sharkapi_spec as spec

from sharkapi_ext import InvalidRequestError

from ._local_sandbox import SANDBOX_POLL_INTERVAL
from ._params import SECONDS

__all__ = ["Settings", "check_settings", "connection_options", "merge_settings"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """Where and how to connect; filled from the group's options, then the command's."""

    base_url: str | None = None
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr
    sandbox: bool = False
    poll_interval: float | None = None


def connection_options(func: F) -> F:
    """The options every command also accepts after its name (`generate --sandbox ...`)."""
    options = [
        click.option(
            "--base-url",
            envvar="SHARKAPI_BASE_URL",
            metavar="URL",
            help="API base URL (env SHARKAPI_BASE_URL; default https://api.sharkapi.dev).",
        ),
        click.option(
            "--token",
            envvar="SHARKAPI_TOKEN",
            metavar="TOKEN",
            help="API token (env SHARKAPI_TOKEN). Never printed.",
        ),
        click.option(
            "--sandbox",
            is_flag=True,
            default=None,
            help="Start a local sandbox in this process and use it (no account, no network); "
            "overrides --base-url and --token.",
        ),
        click.option(
            "--poll-interval",
            type=SECONDS,
            help=f"Seconds between polls (default {spec.POLL_INTERVAL_SECONDS:g}; "
            f"{SANDBOX_POLL_INTERVAL:g} with --sandbox).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def merge_settings(ctx: click.Context, **given: Any) -> Settings:
    """The invocation's `Settings`, updated with the connection options given here.

    Args:
        ctx: The group's or the command's context.
        **given: The connection options as click passed them.

    Returns:
        The one `Settings` of the invocation (the group's error handler reads it too).
    """
    # One Settings object for the group and its command (the group's error handler reads
    # it); a value given after the command name wins over the one given before it.
    settings: Settings = ctx.ensure_object(Settings)
    settings.base_url = given.get("base_url") or settings.base_url
    settings.token = given.get("token") or settings.token
    settings.sandbox = bool(given.get("sandbox") or settings.sandbox)
    settings.poll_interval = given.get("poll_interval") or settings.poll_interval
    return settings


def check_settings(settings: Settings) -> None:
    """Say, in the command line's words, what is missing before any client is made."""
    if settings.sandbox:
        if settings.base_url:
            click.echo(
                f"Note: --sandbox overrides --base-url ({settings.base_url}); "
                "using an in-process sandbox.",
                err=True,
            )
        return
    if not settings.token:
        raise InvalidRequestError(
            "token",
            "no API token: pass --token TOKEN or set SHARKAPI_TOKEN "
            "(or try the local sandbox, no account needed: add --sandbox)",
        )
