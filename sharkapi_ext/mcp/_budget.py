"""The MCP server's spend cap: the client library's (`sharkapi_ext.SpendCap`)."""

from __future__ import annotations

from sharkapi_ext import Reservation, SpendCap, SpendCapExceededError

__all__ = ["Reservation", "SpendCap", "SpendCapExceededError"]
