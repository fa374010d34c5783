"""The aiohttp transport against a real server (the sandbox): which path each request takes.

An in-memory body goes to aiohttp's session directly; a streamed one (an image upload)
through httpx-aiohttp. Both must answer the same, with the SDK's error mapping; the
fault tests (tests/reliability) cover the errors of both paths on real sockets.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sharkapi_ext import AsyncSharkAPI, aiohttp_http_client
from sharkapi_ext._aiohttp import AiohttpTransport
from sharkapi_ext.sandbox import Sandbox


def _png(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 90, 160)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.timeout(30)
def test_in_memory_bodies_go_to_aiohttp_directly_and_uploads_through_httpx_aiohttp(
    sharkapi_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct: list[str] = []
    real_send = AiohttpTransport._send

    async def counting_send(self: AiohttpTransport, session: Any, request: Any) -> Any:
        direct.append(request.method)
        return await real_send(self, session, request)

    monkeypatch.setattr(AiohttpTransport, "_send", counting_send)
    image = _png(tmp_path / "source.png")

    async def main() -> None:
        async with aiohttp_http_client() as http:
            client = AsyncSharkAPI(
                sharkapi_sandbox.token,
                base_url=sharkapi_sandbox.base_url,
                http_client=http,
                poll_interval=0.02,
            )
            done = await client.generate("a shark at dawn")
            assert done.status == "complete"
            assert direct[0] == "POST"
            assert set(direct) == {"POST", "GET"}
            polls = len(direct)
            upload = await client.submit("the same shark", image=image, image_strength=0.4)
            assert len(direct) == polls  # the streamed upload took httpx-aiohttp's path
            status = await client.get_job(upload)
            assert len(direct) == polls + 1
            assert status.job_id == upload.job_id

    asyncio.run(main())
    sent = sharkapi_sandbox.submissions()
    assert [(s.prompt, s.has_image) for s in sent] == [
        ("a shark at dawn", False),
        ("the same shark", True),
    ]
