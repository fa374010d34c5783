"""Helpers shared by the reliability tests (imported by name: tests/ has no packages).

Figures: a test that measures one run calls `record(name, figures)`; tests whose cases
note what they tried in module globals leave the figures to `scripts/reliability`
(conftest.py hands it those notes). When the environment variable
`SHARKAPI_RELIABILITY_FIGURES` names a directory, both are written there as JSON, which is
how `scripts/reliability` builds RELIABILITY.md from real runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIGURES_ENV = "SHARKAPI_RELIABILITY_FIGURES"


def scale(name: str, default: int) -> int:
    """An integer knob from the environment (`scripts/reliability` raises them)."""
    value = os.environ.get(name)
    return default if not value else int(value)


def record(name: str, figures: dict[str, Any]) -> None:
    """Print one test's figures, and save them for `scripts/reliability` when asked."""
    print(f"\nFIGURES {name}: {json.dumps(figures, sort_keys=True, default=str)}")
    folder = os.environ.get(FIGURES_ENV)
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        (path / f"{name}.json").write_text(
            json.dumps(figures, indent=2, sort_keys=True, default=str)
        )


class RawServer:
    """A tiny TCP server on 127.0.0.1 that runs `handler(conn)` for each connection.

    It exists to make faults an HTTP framework will not make: hang after accept, close in
    the middle of the headers, trickle a body. Stop it with `stop()` (or use `with`); it
    closes every connection it accepted.
    """

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.conns: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.accepted = 0
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.accepted += 1
                self.conns.append(conn)
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def read_request(self, conn: socket.socket) -> bytes:
        """Read until the end of the request headers (and a Content-Length body)."""
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
        with self._lock:
            self.received.append(head)
        return head

    def wait_stopping(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if the server is stopping (handlers should return)."""
        return self.stopping.wait(seconds)

    def start(self) -> RawServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        for thread in self.threads:
            thread.join(timeout=5)
        self.sock.close()

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Stopwatch:
    """Wall time of a block, in seconds (`elapsed`)."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
