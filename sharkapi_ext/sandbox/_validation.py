"""Validation of `POST /v1/generate` bodies, with the limits of `openapi.yaml`.

Written independently of the generated client on purpose: a validation bug then cannot hide in
both the SDK and the server it is tested against.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Final

from ._images import ImageError, check_image

__all__ = [
    "JOB_ID_PATTERN",
    "MAX_BODY_BYTES",
    "MAX_IMAGE_BASE64_CHARS",
    "MAX_IMAGE_BYTES",
    "MAX_PROMPT_CHARS",
    "GenerateParams",
    "ValidationFailed",
    "is_json_content_type",
    "parse_generate",
]

MAX_PROMPT_CHARS: Final = 2000
#: "Max 10MB" read as the decoded file: 10 × 1024 × 1024 bytes (see API_NOTES).
MAX_IMAGE_BYTES: Final = 10 * 1024 * 1024
#: Base64 length of a MAX_IMAGE_BYTES file, padding included.
MAX_IMAGE_BASE64_CHARS: Final = 13_981_016
#: The largest valid body is a full image plus a prompt of 2000 code points written as JSON
#: escapes (12 bytes each for astral characters); anything longer is refused unread.
MAX_BODY_BYTES: Final = MAX_IMAGE_BASE64_CHARS + 12 * MAX_PROMPT_CHARS + 4096

_ALLOWED: Final = ("prompt", "mode", "image", "image_strength")
_MODES: Final = ("1k", "2k")
_BASE64: Final = re.compile(
    r"(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}="
)
JOB_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")


class ValidationFailed(ValueError):
    """The request is invalid; the message names the field and the limit."""


@dataclass(frozen=True, slots=True)
class GenerateParams:
    """A valid `POST /v1/generate` body.

    Attributes:
        prompt: The prompt.
        mode: `1k` or `2k`.
        image: The decoded source image, or None.
        image_strength: The blend factor as sent, or None.
    """

    prompt: str
    mode: str
    image: bytes | None
    image_strength: float | None


def is_json_content_type(value: str | None) -> bool:
    """Whether a Content-Type header names `application/json` (parameters allowed)."""
    if value is None:
        return False
    return value.split(";", 1)[0].strip().lower() == "application/json"


def _reject_constant(name: str) -> Any:
    # json accepts NaN and Infinity by default; JSON itself does not.
    raise ValidationFailed(f"body: not valid JSON ({name} is not a JSON number)")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_generate(raw: bytes) -> GenerateParams:
    """Parse and validate a `POST /v1/generate` body.

    Args:
        raw: The body bytes.

    Returns:
        The valid parameters, with the image decoded.

    Raises:
        ValidationFailed: The first problem found, as "field: rule, got value".
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("body: must be UTF-8 encoded JSON") from exc
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except ValidationFailed:
        raise
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed("body: not valid JSON") from exc
    if not isinstance(body, dict):
        raise ValidationFailed(f"body: must be a JSON object, got {_type_name(body)}")
    unknown = [key for key in body if key not in _ALLOWED]
    if unknown:
        shown = ", ".join(repr(key[:40]) for key in sorted(unknown)[:5])
        raise ValidationFailed(f"unknown field {shown}; allowed fields: {', '.join(_ALLOWED)}")

    prompt = body.get("prompt")
    if "prompt" not in body:
        raise ValidationFailed("prompt: required")
    if not isinstance(prompt, str):
        raise ValidationFailed(f"prompt: must be a string, got {_type_name(prompt)}")
    if len(prompt) < 1:
        raise ValidationFailed("prompt: at least 1 character, got 0")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValidationFailed(f"prompt: at most {MAX_PROMPT_CHARS} characters, got {len(prompt)}")

    if "mode" not in body:
        raise ValidationFailed("mode: required, one of '1k', '2k'")
    mode = body["mode"]
    if not isinstance(mode, str):
        raise ValidationFailed(f"mode: must be a string, one of '1k', '2k', got {_type_name(mode)}")
    if mode not in _MODES:
        raise ValidationFailed(f"mode: must be one of '1k', '2k', got {mode[:20]!r}")

    image: bytes | None = None
    if "image" in body:
        encoded = body["image"]
        if not isinstance(encoded, str):
            raise ValidationFailed(f"image: must be a base64 string, got {_type_name(encoded)}")
        if len(encoded) < 4:
            raise ValidationFailed(f"image: at least 4 base64 characters, got {len(encoded)}")
        if len(encoded) > MAX_IMAGE_BASE64_CHARS:
            raise ValidationFailed(
                f"image: at most {MAX_IMAGE_BYTES} bytes decoded "
                f"({MAX_IMAGE_BASE64_CHARS} base64 characters), got {len(encoded)} characters"
            )
        if _BASE64.fullmatch(encoded) is None:
            raise ValidationFailed("image: must be standard base64 with padding and no line breaks")
        try:
            image = binascii.a2b_base64(encoded, strict_mode=True)
        except binascii.Error as exc:  # pragma: no cover - the pattern already ensures this
            raise ValidationFailed("image: must be standard base64") from exc
        if len(image) > MAX_IMAGE_BYTES:
            raise ValidationFailed(
                f"image: at most {MAX_IMAGE_BYTES} bytes decoded, got {len(image)}"
            )
        try:
            check_image(image)
        except ImageError as exc:
            raise ValidationFailed(f"image: {exc}") from exc

    strength: float | None = None
    if "image_strength" in body:
        value = body["image_strength"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationFailed(
                f"image_strength: must be a number from 0 to 1, got {_type_name(value)}"
            )
        strength = float(value) if not isinstance(value, int) or abs(value) < 2**53 else math.inf
        if not math.isfinite(strength) or not 0 <= strength <= 1:
            raise ValidationFailed(f"image_strength: must be from 0 to 1, got {value!r}"[:200])
        if image is None:
            raise ValidationFailed("image_strength: only allowed together with image")
    return GenerateParams(prompt=prompt, mode=mode, image=image, image_strength=strength)
