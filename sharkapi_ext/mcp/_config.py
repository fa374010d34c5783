"""What the user sets when starting the server (stdlib only: `sharkapi --help` reads it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "DEFAULT_MAX_COST",
    "DEFAULT_MAX_WAIT_SECONDS",
    "DEFAULT_OUTPUT_DIR",
    "DEFAULT_THUMBNAIL_PIXELS",
    "ServerConfig",
]

#: The spend cap when none is given: small on purpose, raised only by the user.
DEFAULT_MAX_COST: Final = Decimal("1.00")
#: Below the 60 s that MCP hosts commonly allow a request, download and preview included.
DEFAULT_MAX_WAIT_SECONDS: Final = 40.0
#: Progress notifications during a wait: often enough to keep a host's request alive.
DEFAULT_HEARTBEAT_SECONDS: Final = 5.0
#: Where images go when no output directory is given (relative to the working directory).
DEFAULT_OUTPUT_DIR: Final = "sharkapi-images"
#: Longest side of the preview sent back as image content.
DEFAULT_THUMBNAIL_PIXELS: Final = 256


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """What the user decides when starting the server; nothing here is a tool argument.

    Attributes:
        max_cost: The spend cap in dollars, counted at the worst-case price of every
            submit since start.
        allow_dirs: Directories `image_path` may read from (default: the working directory).
        output_dir: The one directory images are saved in (created when needed).
        max_wait_seconds: How long one tool call waits for a job before answering `pending`.
        heartbeat_seconds: Seconds between progress notifications during a wait.
        thumbnail_pixels: Longest side of the preview returned with an image.

    Raises:
        TypeError: A number of seconds is not a number.
        ValueError: A number of seconds is not positive and finite, or the preview is
            smaller than 16 pixels.
    """

    max_cost: Decimal = DEFAULT_MAX_COST
    allow_dirs: Sequence[str | Path] = ()
    output_dir: str | Path = DEFAULT_OUTPUT_DIR
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    thumbnail_pixels: int = DEFAULT_THUMBNAIL_PIXELS

    def __post_init__(self) -> None:
        for name in ("max_wait_seconds", "heartbeat_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name}: must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: must be a positive, finite number, got {value!r}")
        if not isinstance(self.thumbnail_pixels, int) or self.thumbnail_pixels < 16:
            raise ValueError(f"thumbnail_pixels: must be an int >= 16, got {self.thumbnail_pixels}")
