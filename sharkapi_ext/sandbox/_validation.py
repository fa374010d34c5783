"""Validation of `POST /v1/generate` bodies, with the limits of `openapi.yaml`.

Written independently of the client on purpose: a validation bug then cannot hide in both the
SDK and the server it is tested against. Only the facts are shared: every limit, the modes and
the request schema come from `sharkapi_spec` (generated from openapi.yaml), so a regenerated
spec changes them here with no hand edit. The known fields are checked by hand, for messages
that name the field and the limit; then the whole body (the image as a short stand-in, since
it was checked already) is validated against the spec's own `GenerateRequest` JSON Schema by
`jsonschema`, which covers any field the spec adds later.
"""

from __future__ import annotations

import binascii
import copy
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

import sharkapi_spec as spec

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

MAX_PROMPT_CHARS: Final = spec.PROMPT_MAX_LENGTH
#: "Max 10MB" read as the decoded file (the spec's x-sharkapi-max-decoded-bytes).
MAX_IMAGE_BYTES: Final = spec.IMAGE_MAX_BYTES
#: Base64 length of a MAX_IMAGE_BYTES file, padding included.
MAX_IMAGE_BASE64_CHARS: Final = spec.IMAGE_MAX_BASE64_LENGTH
#: The largest valid body is a full image plus a longest prompt written as JSON escapes
#: (12 bytes per code point for astral characters), plus room for the other fields;
#: anything longer is refused unread.
MAX_BODY_BYTES: Final = MAX_IMAGE_BASE64_CHARS + 12 * MAX_PROMPT_CHARS + 64 * 1024

# The fields checked by hand; any other field the spec declares is checked by the schema.
_KNOWN: Final = ("prompt", "mode", "image", "image_strength")
_BASE64: Final = re.compile(spec.IMAGE_BASE64_PATTERN)
JOB_ID_PATTERN: Final = re.compile(spec.JOB_ID_PATTERN)
# The shortest valid base64 text the schema allows (whole 4-character groups).
_IMAGE_STAND_IN: Final = "A" * (4 * -(-max(spec.IMAGE_MIN_BASE64_LENGTH, 1) // 4))
_MODES_TEXT: Final = ", ".join(repr(mode) for mode in spec.MODES)


@cache
def _schema_validator() -> Any:  # a jsonschema Draft202012Validator
    from jsonschema import Draft202012Validator

    return Draft202012Validator(copy.deepcopy(dict(spec.GENERATE_REQUEST_SCHEMA)))


class ValidationFailed(ValueError):
    """The request is invalid; the message names the field and the limit."""


@dataclass(frozen=True, slots=True)
class GenerateParams:
    """A valid `POST /v1/generate` body.

    Attributes:
        prompt: The prompt.
        mode: One of the spec's modes.
        image: The decoded source image, or None.
        image_strength: The blend factor as sent, or None.
        extra: The other fields the spec declares, as sent.
    """

    prompt: str
    mode: str
    image: bytes | None
    image_strength: float | None
    extra: Mapping[str, Any] = field(default_factory=dict)


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
    allowed = spec.GENERATE_REQUEST_FIELDS
    unknown = [key for key in body if key not in allowed]
    if unknown:
        shown = ", ".join(repr(key[:40]) for key in sorted(unknown)[:5])
        raise ValidationFailed(f"unknown field {shown}; allowed fields: {', '.join(allowed)}")

    prompt = body.get("prompt")
    if "prompt" not in body:
        raise ValidationFailed("prompt: required")
    if not isinstance(prompt, str):
        raise ValidationFailed(f"prompt: must be a string, got {_type_name(prompt)}")
    if len(prompt) < spec.PROMPT_MIN_LENGTH:
        raise ValidationFailed(
            f"prompt: at least {spec.PROMPT_MIN_LENGTH} character(s), got {len(prompt)}"
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValidationFailed(f"prompt: at most {MAX_PROMPT_CHARS} characters, got {len(prompt)}")
    if spec.PROMPT_PATTERN is not None and re.search(spec.PROMPT_PATTERN, prompt) is None:
        raise ValidationFailed(f"prompt: must match the pattern {spec.PROMPT_PATTERN!r}")

    if "mode" not in body:
        raise ValidationFailed(f"mode: required, one of {_MODES_TEXT}")
    mode = body["mode"]
    if not isinstance(mode, str):
        raise ValidationFailed(
            f"mode: must be a string, one of {_MODES_TEXT}, got {_type_name(mode)}"
        )
    if mode not in spec.MODES:
        raise ValidationFailed(f"mode: must be one of {_MODES_TEXT}, got {mode[:20]!r}")

    image: bytes | None = None
    if "image" in body:
        encoded = body["image"]
        if not isinstance(encoded, str):
            raise ValidationFailed(f"image: must be a base64 string, got {_type_name(encoded)}")
        if len(encoded) < spec.IMAGE_MIN_BASE64_LENGTH:
            raise ValidationFailed(
                f"image: at least {spec.IMAGE_MIN_BASE64_LENGTH} base64 characters, "
                f"got {len(encoded)}"
            )
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
        low, high = spec.IMAGE_STRENGTH_MIN, spec.IMAGE_STRENGTH_MAX
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationFailed(
                f"image_strength: must be a number from {low:g} to {high:g}, "
                f"got {_type_name(value)}"
            )
        strength = float(value) if not isinstance(value, int) or abs(value) < 2**53 else math.inf
        if not math.isfinite(strength) or not low <= strength <= high:
            raise ValidationFailed(
                f"image_strength: must be from {low:g} to {high:g}, got {value!r}"[:200]
            )
        if image is None:
            raise ValidationFailed("image_strength: only allowed together with image")
    _check_schema(body)
    extra = {key: value for key, value in body.items() if key not in _KNOWN}
    return GenerateParams(
        prompt=prompt, mode=mode, image=image, image_strength=strength, extra=extra
    )


def _check_schema(body: dict[str, Any]) -> None:
    """Everything else the spec's request schema says, extra fields included."""
    document = dict(body)
    if "image" in document:  # checked above, and far too long to match a pattern again
        document["image"] = _IMAGE_STAND_IN
    error = next(iter(_schema_validator().iter_errors(document)), None)
    if error is None:
        return
    where = ".".join(str(part) for part in error.absolute_path) or "body"
    raise ValidationFailed(f"{where}: {error.message}"[:300])
