"""The sandbox's outermost middleware: request ids, documented headers and the request log."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._answers import documented_headers, operation_for
from ._faults import DroppedConnection
from ._records import RequestRecord
from ._responses import error_response
from ._state import SandboxState

__all__ = ["Observe"]

logger = logging.getLogger("sharkapi_ext.sandbox")


class Observe:
    """Outermost middleware: `X-Request-Id` on every response and the request log."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state
        self.ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{next(self.ids):016x}"
        scope.setdefault("state", {})["request_id"] = request_id
        operation = operation_for(scope["method"], scope["path"])
        status = 0
        logged = False
        arrived = datetime.now(UTC)

        def log(final_status: int) -> None:
            # Logged before the last byte goes out, so a client that has its answer always
            # finds the request in the log.
            nonlocal logged
            if logged:
                return
            logged = True
            host = b""
            has_auth = False
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value
                elif name == b"authorization":
                    has_auth = True
            self.state.log_request(
                RequestRecord(
                    method=scope["method"],
                    path=scope["path"],
                    host=host.decode("latin-1"),
                    has_authorization=has_auth,
                    status=final_status,
                    request_id=request_id,
                    time=arrived,
                )
            )

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    # Whatever else the spec documents for this answer (a header a later
                    # release adds), with a value made from its schema.
                    *(documented_headers(operation, status) if operation else ()),
                ]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log(status)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except DroppedConnection:
            log(0)
            raise
        except ClientDisconnect:
            # The client closed its connection before its request was whole: its own
            # business, not a fault of the sandbox, and nobody is left to answer.
            logger.info(
                "client closed the connection during %s %s (%s) before its body was whole; "
                "nothing done",
                scope["method"],
                scope["path"],
                request_id,
            )
            log(0)
        except Exception:
            # Never crash on any input: answer a well-formed 500 (with its request id) rather
            # than letting the server print a traceback and send a bare text page.
            logger.exception("sandbox bug while handling %s %s", scope["method"], scope["path"])
            if status:
                log(status)
                raise
            await error_response(
                500, "internal_error", "The sandbox failed; this is a bug in the sandbox."
            )(scope, receive, send_with_id)
        finally:
            log(status)
