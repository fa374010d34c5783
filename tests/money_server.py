"""A fake API on 127.0.0.1 whose every amount is `"$"` and a million nines (issue 21, class 3).

It creates a job (202) on every submit and reports it complete; only the money does not fit
the spec's `Money` pattern. Used by the CLI and MCP regression tests.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sharkapi_spec as spec

HUGE = "$" + "9" * 1_000_000
JOB_ID = "job_hugemoney"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
)


@dataclass
class MoneyServer:
    """The running server: its base URL and the submits it accepted."""

    base_url: str
    token: str = "sk_test_money"
    submits: list[str] = field(default_factory=list)


@contextmanager
def money_server(*, bad_submit: bool = True, bad_poll: bool = True) -> Iterator[MoneyServer]:
    """Serve until the block ends; `bad_submit`/`bad_poll` choose which answers carry HUGE."""
    holder: list[MoneyServer] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server = holder[0]
            server.submits.append(self.path)
            self._answer(
                202,
                {
                    "job_id": JOB_ID,
                    "status": "queued",
                    "estimated_cost": HUGE if bad_submit else "$0.01",
                    "poll_url": f"{server.base_url}/v1/jobs/{JOB_ID}",
                    "created_at": "2025-01-01T00:00:00Z",
                },
            )

        def do_GET(self) -> None:
            server = holder[0]
            if self.path == "/img.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)
                return
            self._answer(
                200,
                {
                    "job_id": JOB_ID,
                    "status": spec.SUCCESS_STATUS,
                    "mode": spec.DEFAULT_MODE,
                    "created_at": "2025-01-01T00:00:00Z",
                    "updated_at": "2025-01-01T00:00:01Z",
                    "estimated_cost": "$0.01",
                    "cost": HUGE if bad_poll else "$0.01",
                    "image_url": f"{server.base_url}/img.png",
                    "error": None,
                    "poll_url": f"{server.base_url}/v1/jobs/{JOB_ID}",
                },
            )

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    holder.append(MoneyServer(f"http://127.0.0.1:{httpd.server_address[1]}"))
    try:
        yield holder[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
