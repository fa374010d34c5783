"""Request validation: the spec's limits, Content-Type, malformed input; never a crash."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from sandbox_helpers import conforms, png_b64

from sharkapi_ext.sandbox import SandboxState

pytestmark = pytest.mark.anyio

RED = png_b64((255, 0, 0))
TRUNCATED = base64.b64encode(base64.b64decode(RED)[:40]).decode()


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"mode": "1k"}, ["prompt", "required"]),
        ({"prompt": "", "mode": "1k"}, ["prompt", "at least 1"]),
        ({"prompt": "   ", "mode": "1k"}, ["prompt", "pattern"]),
        ({"prompt": "\u2028\t\n", "mode": "1k"}, ["prompt", "pattern"]),
        ({"prompt": "x" * 2001, "mode": "1k"}, ["prompt", "at most 2000", "2001"]),
        ({"prompt": 5, "mode": "1k"}, ["prompt", "string"]),
        ({"prompt": None, "mode": "1k"}, ["prompt", "string"]),
        ({"prompt": "p"}, ["mode", "required"]),
        ({"prompt": "p", "mode": "4k"}, ["mode", "'1k', '2k'", "4k"]),
        ({"prompt": "p", "mode": 1}, ["mode", "string"]),
        ({"prompt": "p", "mode": "1k", "image": 7}, ["image", "base64 string"]),
        ({"prompt": "p", "mode": "1k", "image": "abc"}, ["image", "at least 4"]),
        ({"prompt": "p", "mode": "1k", "image": "abc$"}, ["image", "base64"]),
        ({"prompt": "p", "mode": "1k", "image": "aGVsbG8h"}, ["image", "PNG or JPEG"]),
        ({"prompt": "p", "mode": "1k", "image": TRUNCATED}, ["image", "decoded"]),
        ({"prompt": "p", "mode": "1k", "image_strength": 0.5}, ["image_strength", "image"]),
        ({"prompt": "p", "mode": "1k", "image": RED, "image_strength": 1.5}, ["image_strength"]),
        ({"prompt": "p", "mode": "1k", "image": RED, "image_strength": -0.1}, ["image_strength"]),
        ({"prompt": "p", "mode": "1k", "image": RED, "image_strength": True}, ["image_strength"]),
        ({"prompt": "p", "mode": "1k", "image": RED, "image_strength": "1"}, ["image_strength"]),
        ({"prompt": "p", "mode": "1k", "seed": 3}, ["unknown field", "seed"]),
    ],
)
async def test_invalid_bodies_name_the_field_and_limit(
    api: httpx.AsyncClient, state: SandboxState, body: dict[str, Any], fragments: list[str]
) -> None:
    response = await api.post("/v1/generate", json=body)
    assert response.status_code == 400, response.text
    conforms(response.json(), "Error")
    assert response.json()["error"]["code"] == "invalid_request"
    message = response.json()["error"]["message"]
    for fragment in fragments:
        assert fragment in message
    assert state.submissions() == []


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x" * 2000, "mode": "1k"},
        {"prompt": "\U0001f988" * 2000, "mode": "2k"},  # 2000 code points, 8000 UTF-8 bytes
        {"prompt": "p", "mode": "1k", "image": RED},
        {"prompt": "p", "mode": "1k", "image": RED, "image_strength": 0},
        {"prompt": "p", "mode": "1k", "image": RED, "image_strength": 1},
    ],
)
async def test_valid_edge_bodies(api: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await api.post("/v1/generate", json=body)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"[]",
        b'"text"',
        b"null",
        b'{"prompt": "p", "mode": "1k", "image": "x", "image_strength": NaN}',
        b'{"prompt": "p", "mode": "1k", "image_strength": Infinity}',
        b"\xff\xfe",
        b"[" * 100_000,
        b'{"prompt": 1' + b"0" * 5000 + b', "mode": "1k"}',
    ],
)
async def test_malformed_json_is_400(api: httpx.AsyncClient, raw: bytes) -> None:
    response = await api.post(
        "/v1/generate", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    conforms(response.json(), "Error")


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
async def test_content_type_enforced(api: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps({"prompt": "p", "mode": "1k"}).encode()
    response = await api.post("/v1/generate", content=body, headers=headers)
    assert response.status_code == 400
    assert "Content-Type" in response.json()["error"]["message"]


async def test_content_type_with_charset_accepted(api: httpx.AsyncClient) -> None:
    body = json.dumps({"prompt": "p", "mode": "1k"}).encode()
    response = await api.post(
        "/v1/generate", content=body, headers={"Content-Type": "Application/JSON; charset=utf-8"}
    )
    assert response.status_code == 202


async def test_image_over_ten_mebibytes_is_400(api: httpx.AsyncClient) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024 - 7)
    response = await api.post(
        "/v1/generate",
        json={"prompt": "p", "mode": "1k", "image": base64.b64encode(data).decode()},
    )
    assert response.status_code == 400
    assert "10485760" in response.json()["error"]["message"]


async def test_huge_body_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/generate",
        content=b" " * (15 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "body" in response.json()["error"]["message"]


async def test_unknown_path_and_wrong_method(api: httpx.AsyncClient) -> None:
    missing = await api.get("/v1/nothing")
    assert missing.status_code == 404
    conforms(missing.json(), "Error")
    assert "x-request-id" in missing.headers
    wrong = await api.delete("/v1/generate")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    conforms(wrong.json(), "Error")
    wrong = await api.post("/v1/jobs/job_1", json={})
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["allow"]
