"""Run `sharkapi` in a child process that stops at a named point, for a Ctrl-C to land there.

    python interrupt_points.py POINT [sharkapi arguments...]

At POINT the child writes ``PAUSED <point>`` on stderr and sleeps; the test then sends
SIGINT, which lands at exactly that step of the command. The points wrap the SDK and
the sandbox from outside (nothing in the product knows of them):

* ``import``: while `main` loads the group (the SDK and click);
* ``import-exec``: the same, inside code run by ``exec()`` of a string, as dataclasses
  make their methods (CPython then remembers the interrupt until the process exits);
* ``import-command``: while the group loads the module of the command it runs
  (`generate`'s), after the group's own options were read;
* ``sandbox-start``: while ``--sandbox`` starts its in-process server;
* ``submit-sent``: the POST /v1/generate reached the API (the job exists), its answer
  not yet read;
* ``wait``: the job submitted, waiting for it;
* ``download``: the job complete, its image not yet saved;
* ``closing``: the image saved and reported, the client closing;
* ``wait-in-del``: as ``wait``, but paused inside a ``__del__``, where Python cannot
  raise the interrupt (it prints "Exception ignored" and would carry on);
* ``batch-submit``: a batch line's submit about to start (nothing on the wire yet);
* ``none``: no pause (``STARTED`` is written when `main` is called, for random delays).
"""

from __future__ import annotations

import asyncio
import importlib.abc
import sys
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

PAUSE_SECONDS = 60.0


def _pause(point: str) -> None:
    sys.stderr.write(f"PAUSED {point}\n")
    sys.stderr.flush()
    if point.endswith("-exec"):
        # Inside code run by exec() of a string, as dataclasses run theirs.
        exec(f"import time; time.sleep({PAUSE_SECONDS})")
    else:
        time.sleep(PAUSE_SECONDS)


#: The module each import point pauses on, the first time it is looked up.
_IMPORT_POINTS = {
    "import": "sharkapi_ext.cli._group",
    "import-exec": "sharkapi_ext.cli._group",
    "import-command": "sharkapi_ext.cli._commands.generate",
}


class _PauseOnImport(importlib.abc.MetaPathFinder):
    """Pauses the first time the point's module is looked up."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.module = _IMPORT_POINTS[point]

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname == self.module:
            sys.meta_path.remove(self)
            _pause(self.point)
        # None: the normal finders load it.


def _wrap(owner: Any, name: str, point: str, *, after: bool = False) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not after:
            _pause(point)
        result = original(*args, **kwargs)
        if after:
            _pause(point)
        return result

    setattr(owner, name, wrapper)


def _install(point: str) -> None:
    if point in _IMPORT_POINTS:
        sys.meta_path.insert(0, _PauseOnImport(point))
    elif point == "sandbox-start":
        from sharkapi_ext.sandbox import Sandbox

        _wrap(Sandbox, "start", point)
    elif point == "submit-sent":
        import httpx

        original = httpx.HTTPTransport.handle_request

        def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            response = original(self, request)
            if request.method == "POST" and request.url.path.endswith("/generate"):
                response.read()  # the server has answered: the job exists
                _pause(point)
            return response

        httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
    elif point in ("wait", "download", "closing"):
        from sharkapi_ext import SharkAPI

        _wrap(SharkAPI, {"wait": "wait", "download": "download", "closing": "close"}[point], point)
    elif point == "wait-in-del":
        from sharkapi_ext import SharkAPI

        class PausesWhenCollected:
            def __del__(self) -> None:
                _pause(point)

        original_wait = SharkAPI.wait

        def wait(self: SharkAPI, *args: Any, **kwargs: Any) -> Any:
            PausesWhenCollected()  # collected at once: the pause runs inside __del__
            return original_wait(self, *args, **kwargs)

        SharkAPI.wait = wait  # type: ignore[method-assign]
    elif point == "batch-submit":
        from sharkapi_ext import AsyncSharkAPI

        # Pause as the submit's exchange starts, before the POST goes out (on the
        # aiohttp transport, before the batch journals its intent at the wire).
        original_exchange = AsyncSharkAPI._exchange

        async def exchange(self: AsyncSharkAPI, action: Any) -> Any:
            if action.request.method == "POST":
                sys.stderr.write(f"PAUSED {point}\n")
                sys.stderr.flush()
                await asyncio.sleep(PAUSE_SECONDS)
            return await original_exchange(self, action)

        AsyncSharkAPI._exchange = exchange  # type: ignore[method-assign]
    elif point != "none":
        raise SystemExit(f"unknown point {point!r}")


if __name__ == "__main__":
    _install(sys.argv[1])
    from sharkapi_ext.cli import main

    sys.stderr.write("STARTED\n")
    sys.stderr.flush()
    main(sys.argv[2:])
