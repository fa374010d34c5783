"""The `sharkapi` command line (the `cli` extra: click and rich).

Commands: `generate`, `status`, `wait`, `batch` and `sandbox`; see ``sharkapi --help``.
The client core never imports this package.
"""

from __future__ import annotations

from ._app import cli, main

__all__ = ["cli", "main"]
