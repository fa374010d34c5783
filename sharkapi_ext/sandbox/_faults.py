"""Fault injection: the `X-Sandbox-Fault` header and the random faults of `SandboxConfig`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import httpx

from ._answers import DOCUMENTED_ERROR_STATUSES
from ._config import SandboxConfig
from ._state import SandboxState

__all__ = [
    "FAULT_HEADER",
    "FAULT_NAMES",
    "DroppedConnection",
    "FaultHeaderError",
    "Faults",
    "draw_faults",
    "parse_fault_header",
]

#: Request header that forces faults on one request, such as `503;retry-after=5` or
#: `slow;seconds=0.2, bad-schema` (several faults separated by commas).
FAULT_HEADER: Final = "x-sandbox-fault"

#: The fault names the header accepts: every error status the spec documents (from its
#: responses: a status a later release documents is a fault at once, answered with the
#: spec's error code), then the sandbox's own.
FAULT_NAMES: Final = (
    *(str(status) for status in DOCUMENTED_ERROR_STATUSES),
    "503-no-retry-after",
    *(name for name in ("500", "502") if int(name) not in DOCUMENTED_ERROR_STATUSES),
    "slow",
    "drop-after-create",
    "bad-schema",
    "wrong-status",
)


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised by the app to drop a connection mid-response (the `drop-after-create` fault).

    Over HTTP, uvicorn closes the connection and the client's httpx raises
    `httpx.RemoteProtocolError` ("peer closed connection without sending complete message
    body"). In process (`httpx.ASGITransport`), this exception itself reaches the client; it
    subclasses `httpx.RemoteProtocolError` so client code sees the same exception type.
    """


class FaultHeaderError(ValueError):
    """The `X-Sandbox-Fault` header cannot be parsed."""


@dataclass(slots=True)
class Faults:
    """The faults to apply to one `/v1` request.

    Attributes:
        status: A status to answer instead, or None: 429, 503, a proxy's 500 or 502, or
            any other error status the spec documents (with its code).
        retry_after: `Retry-After` seconds, None to leave the header out.
        slow_seconds: Delay before handling the request (0 for none).
        drop_after_create: Drop the connection after a job was created.
        bad_schema: Break the success body's schema.
        wrong_status: Answer 200 instead of 202.
    """

    status: int | None = None
    retry_after: int | None = None
    slow_seconds: float = 0.0
    drop_after_create: bool = False
    bad_schema: bool = False
    wrong_status: bool = False


def _number(name: str, key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or number > 3600:
        raise FaultHeaderError(
            f"X-Sandbox-Fault: {name};{key}= must be a number from 0 to 3600, got {value[:20]!r}"
        )
    return number


def parse_fault_header(value: str, config: SandboxConfig) -> Faults:
    """Parse an `X-Sandbox-Fault` header.

    Args:
        value: The header, e.g. `429;retry-after=3` or `slow;seconds=0.5, wrong-status`.
        config: Supplies `retry_after_seconds` and `slow_seconds` when the header omits them.

    Returns:
        The faults to apply.

    Raises:
        FaultHeaderError: An unknown name or a bad parameter.
    """
    faults = Faults()
    for item in value.split(","):
        parts = [part.strip() for part in item.split(";")]
        name = parts[0].lower()
        if not name:
            continue
        params: dict[str, str] = {}
        for part in parts[1:]:
            key, sep, raw = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in {"retry-after", "seconds"}:
                raise FaultHeaderError(
                    f"X-Sandbox-Fault: unknown parameter {part[:30]!r}; "
                    "allowed: retry-after=N (a status), seconds=N (slow)"
                )
            params[key] = raw.strip()
        if name not in FAULT_NAMES:
            raise FaultHeaderError(
                f"X-Sandbox-Fault: unknown fault {name[:30]!r}; known: {', '.join(FAULT_NAMES)}"
            )
        if name in {"429", "503"}:
            faults.status = int(name)
            retry = params.get("retry-after")
            faults.retry_after = (
                config.retry_after_seconds
                if retry is None
                else int(_number(name, "retry-after", retry))
            )
        elif name == "503-no-retry-after":
            faults.status, faults.retry_after = 503, None
        elif name.isdigit():
            # 500, 502 (a proxy's HTML page), or any other status the spec documents.
            faults.status = int(name)
            retry = params.get("retry-after")
            if retry is not None:
                faults.retry_after = int(_number(name, "retry-after", retry))
        elif name == "slow":
            seconds = params.get("seconds")
            faults.slow_seconds = (
                config.slow_seconds if seconds is None else _number(name, "seconds", seconds)
            )
        elif name == "drop-after-create":
            faults.drop_after_create = True
        elif name == "bad-schema":
            faults.bad_schema = True
        else:
            faults.wrong_status = True
    return faults


def draw_faults(state: SandboxState) -> Faults:
    """Draw this request's random faults from the configured rates.

    At most one status fault is chosen, tried in the order 429, 503, 500, 502; a slow delay
    and a dropped connection are drawn independently of it.
    """
    config = state.config
    faults = Faults(bad_schema=config.bad_schema, wrong_status=config.wrong_status)
    if state.draw(config.rate_429):
        faults.status, faults.retry_after = 429, config.retry_after_seconds
    elif state.draw(config.rate_503):
        faults.status = 503
        if state.draw(config.rate_503_retry_after_fraction):
            faults.retry_after = config.retry_after_seconds
    elif state.draw(config.rate_500):
        faults.status = 500
    elif state.draw(config.rate_502):
        faults.status = 502
    if state.draw(config.rate_slow):
        faults.slow_seconds = config.slow_seconds
    faults.drop_after_create = state.draw(config.rate_drop_after_create)
    return faults
