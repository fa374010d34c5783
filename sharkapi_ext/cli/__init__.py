"""The `sharkapi` command line (the `cli` extra: click and rich).

Commands: `generate`, `status`, `wait`, `batch` and `sandbox`; see ``sharkapi --help``.
The client core never imports this package.

This module stays light: `main` loads the group (the SDK and click, most of the
start-up time) itself, so that a Ctrl-C while they load is reported like one while a
command runs. The group then loads only the command it runs (one module per command),
inside its own Ctrl-C handling.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sys import UnraisableHookArgs

    from ._group import cli

__all__ = ["cli", "main"]

#: The exit code of an interrupted command (`_errors.EXIT_INTERRUPTED`, not imported here).
_EXIT_INTERRUPTED = 130


def __getattr__(name: str) -> object:
    # `cli` loads on first use (PEP 562); see the module docstring.
    if name != "cli":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ._group import cli

    globals()["cli"] = cli  # later lookups skip this function
    return cli


def _redeliver_interrupts(
    previous: Callable[[UnraisableHookArgs], object],
) -> Callable[[UnraisableHookArgs], object]:
    """An unraisable-exception hook that raises a swallowed Ctrl-C again.

    A signal's `KeyboardInterrupt` is raised wherever the main thread happens to be,
    which may be a weakref callback or a ``__del__`` (the import system runs some):
    Python then prints "Exception ignored" and carries on, and the command would run to
    its end as if never interrupted. The signal is sent again from another thread, so
    that it lands once the main thread is back in ordinary code (and, being a real
    signal, wakes it from a blocking call); should it land in such a place again, this
    hook sends it once more.
    """

    def hook(unraisable: UnraisableHookArgs) -> object:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            return previous(unraisable)
        # A bare thread: `Thread.start` would wait for it, here, and catch the signal.
        _thread.start_new_thread(_interrupt_main_soon, ())
        return None

    return hook


def _interrupt_main_soon() -> None:
    time.sleep(0.01)  # long after the hook has returned: the signal lands outside it
    main_thread = threading.main_thread().ident
    if hasattr(signal, "pthread_kill") and main_thread is not None:
        signal.pthread_kill(main_thread, signal.SIGINT)
    else:  # pragma: no cover - Windows: no per-thread signals
        _thread.interrupt_main()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `sharkapi` script: run one command, then exit the process.

    Every Ctrl-C from here on ends with exit 130 and a message saying whether a job may
    exist (see `sharkapi --help`); one that comes after the command has ended changes
    nothing: the process is already leaving with the command's own exit code.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
    """
    sys.unraisablehook = _redeliver_interrupts(sys.unraisablehook)
    try:
        try:
            from ._group import cli
        except KeyboardInterrupt:
            sys.stderr.write("\nInterrupted; nothing was submitted.\n")
            sys.exit(_EXIT_INTERRUPTED)
        cli.main(args=argv, prog_name="sharkapi")
    finally:
        _keep_the_exit_code()


def _keep_the_exit_code() -> None:
    """From here on the message is printed and the exit code chosen: keep both."""
    # A Ctrl-C while Python shuts down (or one sent again by the hook above) would
    # replace them with a traceback or a death by SIGINT.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
