"""Validation before sending, and the exact wire body of a submit."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from client_helpers import JPEG, PNG, Twin, accepted, error

from sharkapi_ext import MAX_IMAGE_BYTES, InvalidRequestError, decode_image, encode_image


def expect_invalid(twin: Twin, field: str, match: str, **kwargs: Any) -> None:
    """The submit fails naming `field` and `match`, and nothing reaches the transport."""
    kwargs.setdefault("prompt", "a shark")
    kwargs.setdefault("mode", "1k")
    prompt = kwargs.pop("prompt")
    with pytest.raises(InvalidRequestError, match=match) as info:
        twin().submit(prompt, **kwargs)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    assert twin.script.requests == []


@pytest.mark.parametrize(
    ("prompt", "match"),
    [
        ("", "empty"),
        ("x" * 2001, "2000"),
        ("🦈" * 2001, "2000"),
        # Only whitespace: the spec's prompt pattern (it would be paid for nothing).
        ("   ", "other than whitespace"),
        ("\n\t\u2028\x0c", "other than whitespace"),
    ],
)
def test_bad_prompt(twin: Twin, prompt: str, match: str) -> None:
    expect_invalid(twin, "prompt", match, prompt=prompt)


def test_prompt_not_a_string(twin: Twin) -> None:
    expect_invalid(twin, "prompt", "string", prompt=b"bytes")


@pytest.mark.parametrize("prompt", ["x" * 2000, "🦈" * 2000, "é" * 2000])
def test_prompt_limit_counts_code_points(twin: Twin, prompt: str) -> None:
    twin.script.add(accepted())
    twin().submit(prompt, mode="2k")
    assert twin.script.requests[0].json() == {"prompt": prompt, "mode": "2k"}


@pytest.mark.parametrize("mode", ["4k", "", "1K", None, 1])
def test_bad_mode(twin: Twin, mode: object) -> None:
    expect_invalid(twin, "mode", "'1k' or '2k'", mode=mode)


@pytest.mark.parametrize(
    "image", [b"GIF89a" + b"\x00" * 20, b"\x89PN", b"", b"not an image at all"]
)
def test_image_not_png_or_jpeg(twin: Twin, image: bytes) -> None:
    expect_invalid(twin, "image", "PNG or JPEG|empty", image=image)


def test_image_over_the_limit_as_bytes(twin: Twin) -> None:
    big = PNG + bytes(MAX_IMAGE_BYTES + 1 - len(PNG))
    expect_invalid(twin, "image", str(MAX_IMAGE_BYTES), image=big)


def test_image_over_the_limit_as_sparse_file(twin: Twin, tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    with path.open("wb") as file:
        file.write(PNG)
        file.truncate(MAX_IMAGE_BYTES + 1)  # sparse: no 10 MiB actually written
    expect_invalid(twin, "image", str(MAX_IMAGE_BYTES), image=path)
    expect_invalid(twin, "image", str(MAX_IMAGE_BYTES), image=str(path))


def test_missing_path_and_directory(twin: Twin, tmp_path: Path) -> None:
    expect_invalid(twin, "image", "cannot read", image=tmp_path / "nope.png")
    expect_invalid(twin, "image", "cannot read", image=tmp_path)


def test_image_of_wrong_type(twin: Twin) -> None:
    expect_invalid(twin, "image", "expected bytes", image=12345)
    expect_invalid(twin, "image", "binary mode", image=io.StringIO("text"))


@pytest.mark.parametrize(
    "strength", [-0.01, 1.01, float("nan"), float("inf"), float("-inf"), True, False, "0.5"]
)
def test_bad_strength(twin: Twin, strength: object) -> None:
    expect_invalid(twin, "image_strength", "0.0 to 1.0", image=PNG, image_strength=strength)


def test_strength_without_image(twin: Twin) -> None:
    expect_invalid(twin, "image_strength", "needs an image", image_strength=0.5)


def expected_body(fields: dict[str, Any], image: bytes) -> bytes:
    body = {**fields, "image": base64.b64encode(image).decode("ascii")}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Sizes around the body's internal 768 KiB chunks and base64's 3-byte groups.
@pytest.mark.parametrize("size", [len(PNG), 3 * 256 * 1024, 3 * 256 * 1024 + 1, 800_002])
def test_image_body_is_exact_json(twin: Twin, tmp_path: Path, size: int) -> None:
    image = JPEG + bytes(range(256)) * (size // 256) + b"\x07" * (size % 256)
    image = image[:size]
    path = tmp_path / "in.jpg"
    path.write_bytes(image)
    prompt = 'a "quoted" 🦈\n shark \\ '
    for source in (image, bytearray(image), memoryview(image), path, str(path), io.BytesIO(image)):
        twin.script.add(accepted())
        twin().submit(prompt, mode="1k", image=source, image_strength=0.25)
    want = expected_body({"prompt": prompt, "mode": "1k", "image_strength": 0.25}, image)
    for sent in twin.script.requests:
        assert sent.content == want
        assert sent.headers["content-length"] == str(len(want))
        assert "transfer-encoding" not in sent.headers
        assert sent.headers["content-type"] == "application/json"


@pytest.mark.parametrize("strength", [0, 1, 0.0, 1.0, 0.5])
def test_strength_limits_are_inclusive(twin: Twin, strength: float) -> None:
    twin.script.add(accepted())
    twin().submit("x", mode="1k", image=PNG, image_strength=strength)
    assert twin.script.requests[0].json()["image_strength"] == strength


def test_retried_submit_resends_the_whole_body(twin: Twin) -> None:
    image = PNG + b"\x01" * 1_000_000
    twin.script.add(error(429, headers={"Retry-After": "1"}), error(503), accepted())
    job = twin().submit("again", mode="2k", image=image)
    assert job.job_id
    first, second, third = twin.script.requests
    want = expected_body({"prompt": "again", "mode": "2k"}, image)
    assert first.content == second.content == third.content == want
    assert twin.clock.sleeps == [1.0, 30.0]


def test_encode_decode_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    text = encode_image(path)
    assert text == base64.b64encode(PNG).decode()
    assert decode_image(text) == PNG
    assert decode_image(text.encode()) == PNG
    with pytest.raises(InvalidRequestError):
        decode_image("not base64!!")
    with pytest.raises(InvalidRequestError):
        encode_image(b"plain text")


def test_memoryview_of_wider_items_is_sent_as_its_bytes(twin: Twin) -> None:
    import array

    image = PNG + b"\x00" * 8  # a multiple of 4 bytes
    words = memoryview(array.array("I", image))
    twin.script.add(accepted())
    twin().submit("x", mode="1k", image=words)
    assert twin.script.requests[0].json()["image"] == base64.b64encode(image).decode()
