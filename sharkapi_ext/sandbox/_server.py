"""Running the sandbox under uvicorn: in a background thread (`Sandbox`) or blocking (`serve`)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Self

import uvicorn
from starlette.applications import Starlette

from ._app import create_app
from ._config import SandboxConfig
from ._faults import DroppedConnection
from ._records import Charge, RequestRecord, Submission
from ._state import SandboxState

__all__ = ["DEFAULT_TOKEN", "SECOND_TOKEN", "Sandbox", "serve"]

#: The token every sandbox creates with `SandboxConfig.default_balance`.
DEFAULT_TOKEN: Final = "sk_test_sandbox"  # noqa: S105 - a public test token
#: A second ready token, of another account: scripts/contract-test's isolation check uses it.
SECOND_TOKEN: Final = "sk_test_sandbox_2"  # noqa: S105 - a public test token

_STARTUP_TIMEOUT: Final = 10.0


class _QuietDrops(logging.Filter):
    """Hides uvicorn's traceback for connections the sandbox dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


_quiet_drops: Final = _QuietDrops()


def _install_log_filter() -> None:
    log = logging.getLogger("uvicorn.error")
    if _quiet_drops not in log.filters:
        log.addFilter(_quiet_drops)


def _uvicorn_config(app: Starlette, *, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        # Keep-alive connections must not hold shutdown up: the sandbox stops in tests.
        timeout_graceful_shutdown=1,
        # uvicorn's own logging setup would reconfigure the host program's loggers.
        log_config=None,
        server_header=False,
    )


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every small response waits ~40 ms for a delayed ACK (Nagle). uvicorn's
    # own binding has the same problem, so the sandbox always binds its socket itself.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class Sandbox:
    """A sandbox server on a free local port, in a background thread.

    Use it as a context manager::

        with Sandbox(SandboxConfig(queued_seconds=0.05, processing_seconds=0.1)) as sandbox:
            httpx.post(f"{sandbox.base_url}/v1/generate", ...,
                       headers={"Authorization": f"Bearer {sandbox.token}"})

    Args:
        config: The configuration; None for the defaults.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.

    Attributes:
        config: The configuration it was started with.
        state: The in-memory state (wallets, jobs, ledger, request log).
        app: The ASGI app, also usable in process.
        token: A ready token with `config.default_balance`.
        second_token: Another ready token, of another account, with the same balance.
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config: SandboxConfig = config or SandboxConfig()
        self.state: SandboxState = SandboxState(self.config)
        self.token = DEFAULT_TOKEN
        self.state.add_token(self.token)
        self.second_token = SECOND_TOKEN
        self.state.add_token(self.second_token)
        self._host = host
        self._socket = _bind(host, port)
        self._port: int = self._socket.getsockname()[1]
        self.app: Starlette = create_app(state=self.state, image_origin=self.image_origin)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._port

    @property
    def base_url(self) -> str:
        """The API's base URL, such as `http://127.0.0.1:PORT`."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def image_origin(self) -> str:
        """Origin of `image_url`: `http://localhost:PORT`, a different origin than `base_url`."""
        if self._host in {"localhost", "0.0.0.0", "::"}:  # noqa: S104 - only compared
            return f"http://127.0.0.1:{self._port}"
        return f"http://localhost:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Start serving and wait until the server accepts connections.

        Returns:
            This sandbox.

        Raises:
            RuntimeError: Already started, or the server did not start within 10 seconds.
        """
        if self._thread is not None:
            raise RuntimeError("sandbox already started")
        _install_log_filter()
        self._socket.listen(2048)
        server = uvicorn.Server(
            _uvicorn_config(self.app, host=self._host, port=self._port, log_level="warning")
        )
        self._server = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[self._socket]))
            except BaseException as exc:  # pragma: no cover - reported by start()
                self._error = exc

        self._thread = threading.Thread(
            target=run, name=f"sharkapi-sandbox-{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sandbox did not start: {self._error!r}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop the server, join its thread and close the socket; safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            if self._thread.is_alive():  # pragma: no cover - uvicorn hung
                raise RuntimeError("sandbox thread did not stop")
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------

    def add_token(
        self, token: str, *, balance: Decimal | None = None, revoked: bool = False
    ) -> str:
        """Create or replace a token's wallet.

        Args:
            token: The bearer token.
            balance: Its balance; None for `config.default_balance`.
            revoked: Whether requests with it get 403.

        Returns:
            The account label used in the ledger.
        """
        return self.state.add_token(token, balance=balance, revoked=revoked)

    def balance(self, token: str) -> Decimal | None:
        """A token's balance after settling finished jobs; None if the token is unknown."""
        return self.state.balance(token)

    def set_faults(self, **rates: Any) -> SandboxConfig:
        """Change fault settings while running, e.g. `set_faults(rate_503=0.5)`.

        Args:
            **rates: Fields of `SandboxConfig` named in `FAULT_RATE_FIELDS`.

        Returns:
            The configuration now in force.
        """
        return self.state.set_faults(**rates)

    def ledger(self) -> list[Charge]:
        """Every charge so far, after settling jobs whose time has passed."""
        return self.state.ledger()

    def submissions(self) -> list[Submission]:
        """Every job created, with its current and final status."""
        return self.state.submissions()

    def requests(self) -> list[RequestRecord]:
        """The request log (never token values)."""
        return self.state.requests()


def serve(
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    tokens: dict[str, Decimal] | None = None,
    image_origin: str | None = None,
    log_level: str = "info",
    on_listening: Callable[[str], object] | None = None,
) -> None:
    """Serve the sandbox in the foreground until interrupted (Ctrl-C).

    The tokens `sk_test_sandbox` and `sk_test_sandbox_2` (another account) are ready, and
    any `sk_test_...` token is accepted when `config.auto_create_tokens` is on.

    Args:
        config: The configuration; None for the defaults.
        host: Interface to listen on.
        port: Port to listen on.
        tokens: Extra tokens and their balances.
        image_origin: Origin for `image_url`; None derives it from each request (`127.0.0.1`
            and `localhost` swap).
        log_level: uvicorn's log level.
        on_listening: Called with the base URL (the real port, also for ``port=0``)
            once the socket is bound, before serving starts.

    Raises:
        OSError: The address cannot be bound (port in use, no permission); nothing
            was served.
    """
    state = SandboxState(config or SandboxConfig())
    state.add_token(DEFAULT_TOKEN)
    state.add_token(SECOND_TOKEN)
    for token, balance in (tokens or {}).items():
        state.add_token(token, balance=balance)
    _install_log_filter()
    app = create_app(state=state, image_origin=image_origin)
    uvicorn_config = _uvicorn_config(app, host=host, port=port, log_level=log_level)
    sock = _bind(host, port)
    try:
        sock.listen(2048)
        if on_listening is not None:
            shown = f"[{host}]" if ":" in host else host
            on_listening(f"http://{shown}:{sock.getsockname()[1]}")
        uvicorn.Server(uvicorn_config).run(sockets=[sock])
    finally:
        sock.close()
