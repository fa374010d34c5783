"""pytest plugin: the `sharkapi_sandbox` fixture (registered as the `sharkapi_sandbox` plugin).

Starlette and uvicorn are imported only when the fixture is used, so installing the SDK
without the `sandbox` extra does not break anyone's pytest run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sharkapi_ext.sandbox import Sandbox

__all__ = ["sharkapi_sandbox"]


@pytest.fixture
def sharkapi_sandbox() -> Iterator[Sandbox]:
    """A running sandbox with fast timings (queued 0.05 s, processing 0.1 s), stopped after.

    Yields:
        The `Sandbox`; use `base_url` and `token`.
    """
    from sharkapi_ext.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(queued_seconds=0.05, processing_seconds=0.1)) as sandbox:
        yield sandbox
