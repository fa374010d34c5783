"""The async client's own httpx transport: httpcore's pool, minus two costs of 1.0.x.

httpcore 1.0.x runs `_assign_requests_to_connections` on every request and every
release (several times per request), and in it:

1. decides whether to close a released idle connection by counting *every* connection
   (``len([c.is_idle() for c in conns])``, a list built once per idle connection), so once
   more connections exist than ``max_keepalive_connections``, each released connection is
   closed: a new TCP connection (and TLS handshake) per request under steady load
   (encode/httpcore PR #1000);
2. asks every idle connection whether its socket became readable (one ``poll`` through
   anyio's attribute lookup, tens of µs each), so keeping connections alive made each
   request cost more the more idle connections there were (BENCHMARKS.md, section 2).

`KeepAlivePool` counts idle connections once, and checks an idle connection's socket
when it is about to be reused, plus one sweep of all idle ones at most once a second (so
that a connection the server closed, or one past its keep-alive expiry, is still closed
promptly). Everything else is httpcore's own code path.
"""

from __future__ import annotations

import ssl
import time
from typing import Final

import httpcore
import httpx

__all__ = ["KeepAlivePool", "async_transport"]

# Idle connections are all checked at most this often (seconds); a connection is also
# checked right before it is reused, so a stale one is never handed out.
_SWEEP_INTERVAL: Final = 1.0
# The private state of httpcore 1.0.x's pool that `KeepAlivePool` reads: a pool without
# any of it is another design, and keeps httpcore's own assignment step.
_POOL_STATE: Final = (
    "_assign_requests_to_connections",
    "_connections",
    "_requests",
    "_max_connections",
    "_max_keepalive_connections",
)


class KeepAlivePool(httpcore.AsyncConnectionPool):
    """httpcore's async pool with an O(connections) assignment step (see the module)."""

    _last_sweep: float = 0.0

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        now = time.monotonic()
        sweep = now - self._last_sweep >= _SWEEP_INTERVAL
        if sweep:
            self._last_sweep = now
        idle = 0
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif connection.is_idle():
                # The expensive check (a socket poll) only in a sweep; see the module.
                if (sweep and connection.has_expired()) or idle >= self._max_keepalive_connections:
                    self._connections.remove(connection)
                    closing.append(connection)
                else:
                    idle += 1
            elif connection.has_expired():  # a busy connection: no socket poll
                self._connections.remove(connection)
                closing.append(connection)

        # A connection handed to a request that has not started on it yet still looks
        # idle and available; httpcore would hand it out again, and the loser would go
        # round once more (ConnectionNotAvailable). Skip those.
        queued = []
        taken = set()
        for request in self._requests:
            if request.connection is None:
                queued.append(request)
            else:
                taken.add(id(request.connection))
        for pool_request in queued:
            origin = pool_request.request.url.origin
            chosen = None
            for connection in list(self._connections):
                if (
                    (id(connection) in taken and connection.is_idle())
                    or not connection.can_handle_request(origin)
                    or not connection.is_available()
                ):
                    continue
                if connection.is_idle() and connection.has_expired():
                    # Closed by the server or past its keep-alive: never hand it out.
                    self._connections.remove(connection)
                    closing.append(connection)
                    continue
                chosen = connection
                break
            if chosen is None:
                if len(self._connections) >= self._max_connections:
                    idle_connections = [
                        c for c in self._connections if c.is_idle() and id(c) not in taken
                    ]
                    if not idle_connections:
                        continue  # stays queued until a connection is released
                    self._connections.remove(idle_connections[0])
                    closing.append(idle_connections[0])
                chosen = self.create_connection(origin)
                self._connections.append(chosen)
            pool_request.assign_to_connection(chosen)
            taken.add(id(chosen))
        return closing


def async_transport(limits: httpx.Limits, verify: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    """Httpx's default async transport, on a `KeepAlivePool` when httpcore is 1.0.x.

    Args:
        limits: The pool limits.
        verify: The TLS context.

    Returns:
        The transport; on another httpcore version (or a pool without 1.0.x's
        private state), httpx's own, unchanged.
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=verify)
    pool = getattr(transport, "_pool", None)
    if (
        type(pool) is httpcore.AsyncConnectionPool
        and httpcore.__version__.startswith("1.0.")
        and all(hasattr(pool, name) for name in _POOL_STATE)
    ):
        # Same state and constructor; only the assignment step differs.
        pool.__class__ = KeepAlivePool
    return transport
