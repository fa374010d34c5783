"""Deterministic PNG rendering for sandbox jobs: a small procedural landscape per prompt.

A hash of the prompt picks the scene: the time of day (sky colours, sun or moon,
stars), the setting (open sea with waves, or layers of hills), and their shapes. A
prompt that mentions a shark gets fins in the water. The same prompt always gives the
same scene; the job's own caption (prompt, mode, size, job id) and a "SharkAPI
sandbox" badge are drawn on top, so the picture says where it came from.

With an input image, the source is scaled to the output size and blended over the
scene by `image_strength` (1.0 keeps only the source, 0.0 only the scene); the caption
is drawn after the blend. Everything is drawn with Pillow's primitives and its
built-in scalable font, with no font files: a 1k image renders in about 50 ms
(`scripts/bench-sandbox` prints the figure).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import random
import struct
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from sharkapi_spec import MODE_SIZES

__all__ = ["SIDES", "ImageError", "check_image", "render_png"]

#: Output side in pixels for each mode (the spec's x-sharkapi-modes width).
SIDES: Final[dict[str, int]] = {mode: size[0] for mode, size in MODE_SIZES.items()}

_PNG_LEVEL: Final = 1  # speed over size: these images never leave the machine
# Run-length matching suits flat, drawn areas: faster and smaller than the default here.
_PNG_STRATEGY: Final = 3  # zlib.Z_RLE
# Large enough for the inputs the API accepts (10 MiB files), small enough that a hostile
# "PNG bomb" of a few KiB cannot make the sandbox allocate gigabytes.
_MAX_PIXELS: Final = 40_000_000
_SEA_WORDS: Final = frozenset(
    {"shark", "sharks", "sea", "ocean", "wave", "waves", "fish", "whale", "beach", "boat"}
)
_HILL_WORDS: Final = frozenset({"mountain", "mountains", "hill", "hills", "valley", "village"})
_FIN_WORDS: Final = frozenset({"shark", "sharks"})
#: Words that choose the time of day (an index into _SKIES); otherwise the hash does.
_TIME_WORDS: Final = {
    "dawn": 0,
    "sunrise": 0,
    "morning": 0,
    "day": 1,
    "sunny": 1,
    "noon": 1,
    "dusk": 2,
    "sunset": 2,
    "evening": 2,
    "night": 3,
    "moon": 3,
    "midnight": 3,
}

RGB = tuple[int, int, int]


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


@dataclass(frozen=True)
class _Sky:
    """One time of day: sky gradient (top, horizon), sun colour, land/sea tint, stars."""

    top: RGB
    horizon: RGB
    sun: RGB
    ground: RGB
    night: bool


_SKIES: Final = (
    _Sky((38, 60, 128), (250, 170, 120), (255, 226, 170), (52, 60, 92), False),  # dawn
    _Sky((46, 128, 214), (176, 220, 246), (255, 250, 226), (40, 104, 120), False),  # day
    _Sky((46, 30, 92), (246, 122, 72), (255, 196, 96), (44, 34, 70), False),  # dusk
    _Sky((6, 10, 34), (28, 46, 96), (236, 238, 252), (10, 18, 44), True),  # night
)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _gradient(top: RGB, bottom: RGB, width: int, height: int) -> Image.Image:
    # A 1-pixel-wide column stretched sideways: far faster than drawing each row.
    height = max(1, height)
    column = Image.new("RGB", (1, height))
    column.putdata([_mix(top, bottom, i / max(1, height - 1)) for i in range(height)])
    return column.resize((width, height), Image.Resampling.NEAREST)


def _glow(picture: Image.Image, centre: tuple[float, float], radius: float, colour: RGB) -> None:
    """A soft halo: concentric discs drawn small, blurred, then scaled up as a mask."""
    scale = 8
    small = Image.new("L", (picture.width // scale, picture.height // scale), 0)
    draw = ImageDraw.Draw(small)
    cx, cy, r = centre[0] / scale, centre[1] / scale, radius / scale
    for step in range(8, 0, -1):
        reach = r * (1 + step * 0.45)
        draw.ellipse((cx - reach, cy - reach, cx + reach, cy + reach), fill=150 - 16 * step)
    mask = small.filter(ImageFilter.GaussianBlur(2)).resize(picture.size, Image.Resampling.BILINEAR)
    picture.paste(colour, (0, 0, *picture.size), mask)


def _ridge(rng: random.Random, side: int, base: float, height: float) -> list[tuple[float, float]]:
    """A hill line: a few sines of random phase, sampled every 16 px, closed at the bottom."""
    waves = [(rng.uniform(1, 4), rng.uniform(0, math.tau), rng.uniform(0.3, 1)) for _ in range(3)]
    total = sum(amplitude for _, _, amplitude in waves)
    points = [(0.0, float(side))]
    for x in range(0, side + 16, 16):
        u = x / side
        y = sum(a * math.sin(f * math.tau * u + p) for f, p, a in waves) / total
        points.append((float(x), base - height * (0.5 + 0.5 * y)))
    points.append((float(side), float(side)))
    return points


def _scene(prompt: str, mode: str, side: int) -> Image.Image:
    digest = hashlib.sha256(f"{mode}\x00{prompt}".encode()).digest()
    rng = random.Random(digest)
    words = {word.strip(".,;:!?\"'()").lower() for word in prompt.split()}
    named = [_TIME_WORDS[word] for word in words if word in _TIME_WORDS]
    sky = _SKIES[min(named) if named else digest[0] % len(_SKIES)]
    if words & _SEA_WORDS:
        sea = True
    elif words & _HILL_WORDS:
        sea = False
    else:
        sea = digest[1] % 2 == 0
    horizon = round(side * rng.uniform(0.52, 0.62))

    picture = _gradient(sky.top, sky.horizon, side, side)
    draw = ImageDraw.Draw(picture)
    if sky.night:
        for _ in range(side // 6):
            x, y = rng.randrange(side), rng.randrange(horizon)
            glow = rng.randint(150, 255)
            draw.point((x, y), fill=(glow, glow, min(255, glow + 20)))
    # The sun (or moon), with a soft halo.
    cx, cy = side * rng.uniform(0.2, 0.8), horizon * rng.uniform(0.3, 0.75)
    radius = side * (0.04 if sky.night else 0.06)
    _glow(picture, (cx, cy), radius, sky.sun)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=sky.sun)

    if sea:
        _draw_sea(picture, rng, sky, horizon, side, (cx, radius), fins=bool(words & _FIN_WORDS))
    else:
        _draw_hills(draw, rng, sky, horizon, side)
    return picture


def _draw_hills(
    draw: ImageDraw.ImageDraw, rng: random.Random, sky: _Sky, horizon: int, side: int
) -> None:
    # Far ridges take the sky's colour (aerial perspective); near ones the ground's, darker.
    for layer in range(4):
        depth = layer / 3
        colour = _mix(_mix(sky.horizon, sky.ground, 0.35 + 0.45 * depth), (0, 0, 0), 0.3 * depth)
        base = horizon + side * 0.12 * layer
        draw.polygon(_ridge(rng, side, base, side * (0.16 - 0.025 * layer)), fill=colour)


def _draw_sea(
    picture: Image.Image,
    rng: random.Random,
    sky: _Sky,
    horizon: int,
    side: int,
    sun: tuple[float, float],
    *,
    fins: bool,
) -> None:
    water_top = _mix(sky.horizon, sky.ground, 0.55)
    water_bottom = _mix(sky.ground, (0, 0, 0), 0.45)
    picture.paste(_gradient(water_top, water_bottom, side, side - horizon), (0, horizon))
    draw = ImageDraw.Draw(picture)
    # The sun's reflection: short bright strokes, narrowing towards the viewer.
    sun_x, radius = sun
    for row in range(horizon + 4, side, max(3, side // 180)):
        t = (row - horizon) / (side - horizon)
        half = radius * (1.4 - t) * rng.uniform(0.4, 1.0)
        if half > 1:
            shade = _mix(sky.sun, water_top, 0.25 + 0.6 * t)
            draw.line((sun_x - half, row, sun_x + half, row), fill=shade, width=max(1, side // 512))
    # Waves: light crests, sparser and longer near the viewer.
    crest = _mix(water_top, (255, 255, 255), 0.35)
    for _ in range(side // 14):
        t = rng.random() ** 1.6
        y = horizon + 6 + t * (side - horizon - 6)
        length = side * (0.01 + 0.06 * t)
        x = rng.uniform(-length, side)
        draw.arc(
            (x, y - length * 0.12, x + length, y + length * 0.12),
            200,
            340,
            fill=crest,
            width=max(1, round(side / 700 * (1 + 2 * t))),
        )
    if fins:
        for _ in range(rng.randint(1, 3)):
            _draw_fin(draw, rng, sky, horizon, side)


def _draw_fin(
    draw: ImageDraw.ImageDraw, rng: random.Random, sky: _Sky, horizon: int, side: int
) -> None:
    t = rng.uniform(0.15, 0.75)
    y = horizon + t * (side - horizon) * 0.8
    size = side * (0.04 + 0.11 * t)
    x = rng.uniform(0.1, 0.9) * side
    facing = rng.choice((-1, 1))
    # A dorsal fin: a convex leading edge sweeping back to the tip, then a concave
    # trailing edge down to the water, both sampled as one polygon.
    tip = (x - facing * size * 0.45, y - size)
    leading = [
        (
            x + facing * size * 0.55 + (tip[0] - x - facing * size * 0.55) * u,
            y - size * math.sin(u * math.pi / 2),
        )
        for u in (i / 12 for i in range(13))
    ]
    trailing = [
        (tip[0] + facing * size * 0.15 * u, tip[1] + size * u**1.6)
        for u in (i / 8 for i in range(9))
    ]
    draw.polygon([*leading, *trailing[1:]], fill=_mix(sky.ground, (8, 12, 20), 0.7))
    wake = _mix(sky.horizon, (255, 255, 255), 0.6)
    draw.arc(
        (x - size * 0.8, y - size * 0.08, x + size * 0.8, y + size * 0.1),
        0,
        180,
        fill=wake,
        width=max(2, round(size / 25)),
    )


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float, lines: int
) -> list[str]:
    out: list[str] = []
    words = text.split()
    while words and len(out) < lines:
        line = words.pop(0)
        while words and font.getlength(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        out.append(line)
    if words:
        out[-1] = _fit(f"{out[-1]} {' '.join(words)}", font, width)
    return [_fit(line, font, width) for line in out] or [""]


def _caption(picture: Image.Image, prompt: str, mode: str, job_id: str | None) -> Image.Image:
    side = picture.width
    unit = side / 1024
    margin = round(28 * unit)
    big, small = _font(round(34 * unit)), _font(round(22 * unit))
    lines = _wrap(" ".join(prompt.split()), big, side - 2 * margin, 2)
    detail = f"mode {mode} · {side} x {side} px · {job_id or 'no job id'}"
    line_height = round(44 * unit)
    band = margin + len(lines) * line_height + round(34 * unit) + margin
    # Darken only the caption band (compositing the whole picture would cost more).
    box = (0, side - band, side, side)
    shade = Image.new("RGB", (side, band), (6, 10, 20))
    picture.paste(Image.blend(picture.crop(box), shade, 0.68), box)
    draw = ImageDraw.Draw(picture)
    y = side - band + margin
    for line in lines:
        draw.text((margin, y), line, font=big, fill=(255, 255, 255))
        y += line_height
    draw.text((margin, y + round(4 * unit)), detail, font=small, fill=(190, 214, 240))
    # The badge: this picture is a sandbox placeholder, not a generated image.
    label = "SharkAPI sandbox · not a generated image"
    pad = round(12 * unit)
    width = small.getlength(label)
    badge = (margin, margin, margin + width + 2 * pad, margin + round(22 * unit) + 2 * pad)
    draw.rounded_rectangle(badge, radius=round(10 * unit), fill=(255, 196, 0))
    draw.text((margin + pad, margin + pad), label, font=small, fill=(20, 20, 20))
    return picture


@functools.lru_cache(maxsize=16)
def render_png(
    prompt: str,
    mode: str,
    image: bytes | None,
    strength: float | None,
    job_id: str | None = None,
) -> bytes:
    """Render a job's PNG; the same arguments always give the same bytes.

    Args:
        prompt: The job's prompt; it chooses the scene and is written on it.
        mode: `1k` or `2k`, which sets the side (1024 or 2048 pixels).
        image: The decoded input image, or None.
        strength: Blend factor for `image`, 0.0 to 1.0.
        job_id: The job's id, written in the caption.

    Returns:
        The PNG file.
    """
    side = SIDES[mode]
    picture = _scene(prompt, mode, side)
    if image is not None:
        try:
            source = _decode(image).convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
        except ImageError:  # pragma: no cover - inputs are checked at submit
            source = None
        if source is not None:
            picture = Image.blend(picture, source, 0.5 if strength is None else strength)
    picture = _caption(picture, prompt, mode, job_id)
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=_PNG_LEVEL, compress_type=_PNG_STRATEGY)
    return out.getvalue()
