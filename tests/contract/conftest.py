"""Fixtures for contract tests against third-party servers.

`prism_url`: Prism (`prism mock`, pinned in scripts/node/package.json) serving
openapi.yaml on a free local port. It answers from the spec's examples, honours
`Prefer: code=NNN` / `Prefer: example=NAME`, validates requests (401 without a bearer
token, 422 for a bad body) and keeps no state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prism_tools import SPEC, running_prism


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prism mock of openapi.yaml; the process is stopped at session end."""
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with running_prism("mock", str(SPEC), log=log) as url:
        yield url
