"""Journal keys: a request's line number and a hash of what it asks for (never the prompt)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

__all__ = ["key_parts", "request_key"]


# What `json.dumps(..., ensure_ascii=False)` writes for a string (its C encoder).
_encode: Final = json.encoder.encode_basestring


def request_key(line: int, request: dict[str, Any]) -> str:
    """The journal key of one request: its line number and a hash of what it asks for.

    Args:
        line: The 1-based line number in the batch file.
        request: The request's fields (prompt, mode, image, image_strength).

    Returns:
        A key such as ``L12-3f9a0c1b2d4e``.
    """
    if (
        len(request) == 4
        and request.get("image") is None
        and request.get("image_strength") is None
        and type(request.get("prompt")) is str
        and type(request.get("mode")) is str
    ):
        # A plain prompt line, the common case: the same text `json.dumps` would give
        # (sorted keys, compact, not ASCII-escaped), at a fraction of its cost.
        canonical = (
            '{"image":null,"image_strength":null,"mode":'
            f'{_encode(request["mode"])},"prompt":{_encode(request["prompt"])}}}'
        )
    else:
        canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
    return f"L{line}-{digest}"


def key_parts(key: str) -> tuple[int, int] | None:
    """A key's line number and hash as integers, or None for a key not of this format."""
    line, sep, digest = key.partition("-")
    if not sep or not line.startswith("L") or not line[1:].isdigit():
        return None
    try:
        return int(line[1:]), int(digest, 16)
    except ValueError:
        return None
