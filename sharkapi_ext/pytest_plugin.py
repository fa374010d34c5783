"""pytest plugin (registered as ``sharkapi_sandbox``): a running sandbox and clients tuned to it.

Fixtures:

* ``sharkapi_sandbox``: a `Sandbox` on a free local port whose jobs finish in 0.15 s
  (queued 0.05 s, processing 0.1 s), stopped after the test.
* ``sharkapi_client``: a `SharkAPI` connected to it that polls every 0.02 s, so
  ``generate`` returns in about 0.2 s instead of the 2 s of the real API's interval.
* ``sharkapi_async_client``: the same as an `AsyncSharkAPI`; an async fixture, so the
  test runs under an async pytest plugin (anyio's ``@pytest.mark.anyio``, which comes
  with httpx, or pytest-asyncio).

Like the command line, this module is a surface over both the client and the sandbox:
it imports them (and so Starlette, uvicorn and Pillow) only when a fixture is used, so
installing the SDK without the ``sandbox`` extra does not break anyone's pytest run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:
    from sharkapi_ext import AsyncSharkAPI, SharkAPI
    from sharkapi_ext.sandbox import Sandbox

__all__ = [
    "FIXTURE_POLL_INTERVAL",
    "sharkapi_async_client",
    "sharkapi_client",
    "sharkapi_sandbox",
]

#: The fixture sandbox's job timings, in seconds.
_QUEUED: Final = 0.05
_PROCESSING: Final = 0.1
#: The fixture clients' poll interval: a small fraction of the sandbox's job time.
FIXTURE_POLL_INTERVAL: Final = 0.02


@pytest.fixture
def sharkapi_sandbox() -> Iterator[Sandbox]:
    """A running sandbox with fast timings (queued 0.05 s, processing 0.1 s), stopped after.

    Yields:
        The `Sandbox`; use `base_url` and `token`.
    """
    from sharkapi_ext.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(queued_seconds=_QUEUED, processing_seconds=_PROCESSING)) as sandbox:
        yield sandbox


@pytest.fixture
def sharkapi_client(sharkapi_sandbox: Sandbox) -> Iterator[SharkAPI]:
    """A `SharkAPI` connected to ``sharkapi_sandbox``, polling every 0.02 s; closed after.

    Yields:
        The client.
    """
    from sharkapi_ext import SharkAPI

    with SharkAPI(
        sharkapi_sandbox.token,
        base_url=sharkapi_sandbox.base_url,
        poll_interval=FIXTURE_POLL_INTERVAL,
    ) as client:
        yield client


@pytest.fixture
async def sharkapi_async_client(sharkapi_sandbox: Sandbox) -> AsyncIterator[AsyncSharkAPI]:
    """An `AsyncSharkAPI` connected to ``sharkapi_sandbox``, polling every 0.02 s; closed after.

    Yields:
        The client.
    """
    from sharkapi_ext import AsyncSharkAPI

    async with AsyncSharkAPI(
        sharkapi_sandbox.token,
        base_url=sharkapi_sandbox.base_url,
        poll_interval=FIXTURE_POLL_INTERVAL,
    ) as client:
        yield client
