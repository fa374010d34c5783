"""Deterministic PNG rendering for sandbox jobs.

An image is a smooth colour field: a small grid of colours drawn from a hash of the prompt and
mode, scaled up bilinearly. That is fast to make and compresses well at a low PNG level. With
an input image, the source is scaled to the output size and blended over the field by
`image_strength` (1.0 keeps only the source, 0.0 only the field).
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import warnings
from typing import Final

from PIL import Image
from sharkapi_spec import MODE_SIZES

__all__ = ["SIDES", "ImageError", "check_image", "render_png"]

#: Output side in pixels for each mode (the spec's x-sharkapi-modes width).
SIDES: Final[dict[str, int]] = {mode: size[0] for mode, size in MODE_SIZES.items()}

_GRID: Final = 8  # colours per side of the seed grid
_PNG_LEVEL: Final = 1  # speed over size: these images never leave the machine
# Large enough for the inputs the API accepts (10 MiB files), small enough that a hostile
# "PNG bomb" of a few KiB cannot make the sandbox allocate gigabytes.
_MAX_PIXELS: Final = 40_000_000


class ImageError(ValueError):
    """The input image cannot be used."""


def check_image(data: bytes) -> None:
    """Check that `data` is a PNG or JPEG that Pillow can decode.

    Args:
        data: The decoded file.

    Raises:
        ImageError: Not a PNG or JPEG by its magic bytes, too many pixels, or undecodable.
    """
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        raise ImageError("must be a PNG or JPEG file (checked by its first bytes)")
    _decode(data)


def _decode(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on huge images; both mean "refuse it" here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > _MAX_PIXELS:
                raise ImageError(f"at most {_MAX_PIXELS} pixels, got {width}x{height}")
            image.load()
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"cannot be decoded as PNG or JPEG ({type(exc).__name__})") from exc
    except Image.DecompressionBombError as exc:  # pragma: no cover - _MAX_PIXELS comes first
        raise ImageError("too many pixels") from exc
    return image


def _field(prompt: str, mode: str, side: int) -> Image.Image:
    digest = hashlib.sha256(f"{mode}\x00{prompt}".encode()).digest()
    # Stretch the digest into one RGB triple per grid cell, deterministically.
    needed = _GRID * _GRID * 3
    stream = bytearray()
    counter = 0
    while len(stream) < needed:
        stream += hashlib.sha256(digest + counter.to_bytes(4, "big")).digest()
        counter += 1
    grid = Image.frombytes("RGB", (_GRID, _GRID), bytes(stream[:needed]))
    return grid.resize((side, side), Image.Resampling.BILINEAR)


@functools.lru_cache(maxsize=16)
def render_png(prompt: str, mode: str, image: bytes | None, strength: float | None) -> bytes:
    """Render a job's PNG; the same arguments always give the same bytes.

    Args:
        prompt: The job's prompt.
        mode: `1k` or `2k`, which sets the side (1024 or 2048 pixels).
        image: The decoded input image, or None.
        strength: Blend factor for `image`, 0.0 to 1.0.

    Returns:
        The PNG file.
    """
    side = SIDES[mode]
    picture = _field(prompt, mode, side)
    if image is not None:
        try:
            source = _decode(image).convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
        except ImageError:  # pragma: no cover - inputs are checked at submit
            source = None
        if source is not None:
            picture = Image.blend(picture, source, 0.5 if strength is None else strength)
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=_PNG_LEVEL)
    return out.getvalue()
