"""The sandbox's answers as Starlette responses: JSON, spec errors, proxy pages, a cut body."""

from __future__ import annotations

import json
from typing import Any, Final

import sharkapi_spec as spec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._answers import error_code
from ._faults import DroppedConnection
from ._records import TERMINAL_STATUSES

__all__ = [
    "HTML_PAGES",
    "DropResponse",
    "error_response",
    "html_response",
    "job_error",
    "json_response",
]

_JOB_ERRORS: Final = {
    "failed": {"code": "generation_failed", "message": "The generator could not produce an image."},
    "moderated": {"code": "content_moderated", "message": "The image failed content moderation."},
}


def job_error(status: str) -> dict[str, str] | None:
    """The `error` of a job in `status`: None unless it ended without an image."""
    if status not in TERMINAL_STATUSES or status == spec.SUCCESS_STATUS:
        return None
    # A terminal status the spec adds later gets a generic error of its own.
    return _JOB_ERRORS.get(status) or {"code": f"job_{status}", "message": f"The job {status}."}


HTML_PAGES: Final = {
    500: "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>"
    "<body><h1>500 Internal Server Error</h1><p>sandbox fault injection</p></body></html>\n",
    502: "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def error_response(
    status: int, code: str, message: str, *, retry_after: int | None = None
) -> Response:
    """An error answer; its `code` is the spec's for `status` (`code` when undocumented)."""
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return json_response(
        {"error": {"code": error_code(status, code), "message": message}}, status, headers
    )


class DropResponse(Response):
    """Sends headers and half the body, then makes the server drop the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )
        raise DroppedConnection("sandbox fault: connection dropped after the job was created")


def html_response(status: int) -> Response:
    """A proxy's HTML error page (the API itself never answers HTML)."""
    return Response(HTML_PAGES[status], status_code=status, media_type="text/html")
