"""The `sharkapi` command line (the `cli` extra: click and rich).

Commands: `generate`, `status`, `wait`, `batch` and `sandbox`; see ``sharkapi --help``.
The client core never imports this package.

This module stays light: `main` loads the commands (the SDK, click and rich, most of
the start-up time) itself, so that a Ctrl-C while they load is reported like one
while a command runs.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._app import cli

__all__ = ["cli", "main"]

#: The exit code of an interrupted command (`_errors.EXIT_INTERRUPTED`, not imported here).
_EXIT_INTERRUPTED = 130


def __getattr__(name: str) -> object:
    # `cli` loads on first use (PEP 562); see the module docstring.
    if name != "cli":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ._app import cli

    globals()["cli"] = cli  # later lookups skip this function
    return cli


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `sharkapi` script: run one command, then exit the process.

    Every Ctrl-C from here on ends with exit 130 and a message saying whether a job may
    exist (see `sharkapi --help`); one that comes after the command has ended changes
    nothing: the process is already leaving with the command's own exit code.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
    """
    try:
        from ._app import cli
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted; nothing was submitted.\n")
        sys.exit(_EXIT_INTERRUPTED)
    try:
        cli.main(args=argv, prog_name="sharkapi")
    finally:
        # The outcome is printed and the exit code chosen: a Ctrl-C while Python shuts
        # down would only replace both with a traceback or a death by SIGINT.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
