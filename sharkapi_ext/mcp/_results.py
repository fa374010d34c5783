"""Tool results as the model reads them: text, structured data, a preview, no token.

Every result leaves through `Results`, which scrubs the token out of its text and data:
the SDK never puts the token in a message, and this is the second lock, in case a
server echoes it into an error body that ends up in a message.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mcp_types as types

from ._errors import Failure

__all__ = ["Results", "thumbnail"]


def thumbnail(path: Path, pixels: int) -> str:
    """A small JPEG preview of a saved image, base64-encoded."""
    from PIL import Image

    with Image.open(path) as image:
        image.thumbnail((pixels, pixels))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class Results:
    """Builds tool results, with every given secret replaced by ``[redacted]``.

    Args:
        secrets: Strings never to let out (the token); empty ones are ignored.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = tuple(s for s in secrets if s)

    def scrub(self, text: str) -> str:
        """`text` without any secret (also used for log lines)."""
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def _scrub_data(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, dict):
            return {key: self._scrub_data(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self._scrub_data(value) for value in data]
        return data

    def ok(
        self, text: str, data: dict[str, Any], preview: str | None = None
    ) -> types.CallToolResult:
        """A successful result: the text, the structured data, and an optional preview."""
        content: list[types.TextContent | types.ImageContent] = [
            types.TextContent(type="text", text=self.scrub(text))
        ]
        if preview is not None:
            content.append(types.ImageContent(type="image", data=preview, mime_type="image/jpeg"))
        return types.CallToolResult(
            content=list(content), structured_content=self._scrub_data(data), is_error=False
        )

    def failed(self, failure: Failure) -> types.CallToolResult:
        """A tool error (``isError``), with the failure's facts as structured data."""
        data = {
            "error": failure.error,
            "kind": failure.kind,
            "message": failure.message,
            "job_id": failure.job_id,
            "job_may_exist": failure.job_may_exist,
            "retry_safe": failure.retry_safe,
            "account_problem": failure.account_problem,
            "what_to_do": failure.what_to_do,
        }
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=self.scrub(failure.text()))],
            structured_content=self._scrub_data(data),
            is_error=True,
        )

    def pending(self, job_id: str, status: str, waited: float) -> types.CallToolResult:
        """A job still running after the call's wait: how to pick it up again."""
        step = (
            f'call wait_for_job with job_id="{job_id}" to keep waiting. Do NOT call '
            "generate_image again: this job exists and will be charged when it completes."
        )
        text = f"Job {job_id} is still {status} after {waited:g} s (pending). Next: {step}"
        return self.ok(
            text, {"status": "pending", "job_id": job_id, "job_status": status, "next_step": step}
        )
