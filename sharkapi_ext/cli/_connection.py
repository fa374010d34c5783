"""From the merged `Settings` to a client: the sandbox started when asked, errors reworded."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import sharkapi_spec as spec

from sharkapi_ext import InvalidRequestError

if TYPE_CHECKING:
    from sharkapi_ext import SharkAPI

from ._local_sandbox import SANDBOX_POLL_INTERVAL, start_sandbox
from ._settings import Settings, check_settings

__all__ = ["cli_construction_errors", "connection", "open_client"]


@contextlib.contextmanager
def connection(settings: Settings) -> Iterator[tuple[str | None, str | None, float]]:
    """(base_url, token, poll_interval), starting the in-process sandbox when asked."""
    check_settings(settings)
    with contextlib.ExitStack() as stack:
        base_url, token = settings.base_url, settings.token
        poll = settings.poll_interval
        if settings.sandbox:
            sandbox = stack.enter_context(start_sandbox())
            base_url, token = sandbox.base_url, sandbox.token
            poll = poll or SANDBOX_POLL_INTERVAL
        yield base_url, token, poll or spec.POLL_INTERVAL_SECONDS


@contextlib.contextmanager
def cli_construction_errors(base_url: str | None) -> Iterator[None]:
    """Reword the client's refusal of a plain-http URL, which names a Python-only option."""
    try:
        yield
    except InvalidRequestError as exc:
        url = base_url or ""
        if exc.field != "base_url" or not url.lower().startswith("http://"):
            raise
        raise InvalidRequestError(
            "base_url",
            f"plain http to {url} would send the token in clear: use an https:// --base-url "
            "(plain http is allowed only to loopback addresses, such as a local sandbox)",
        ) from None


@contextlib.contextmanager
def open_client(settings: Settings) -> Iterator[SharkAPI]:
    """A client for the settings, with its in-process sandbox when asked; both closed after.

    Args:
        settings: The merged connection settings.

    Yields:
        The client.
    """
    from sharkapi_ext import SharkAPI  # the client loads when a command needs one

    with connection(settings) as (base_url, token, poll):
        with cli_construction_errors(base_url):
            client = SharkAPI(token, base_url=base_url, poll_interval=poll)
        with client:
            yield client
