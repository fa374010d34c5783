"""Cutting the client's own token out of whatever a server sends back.

A server (or a proxy in front of it) may echo the bearer token in an error body, a
header or a redirect; the client scrubs every answer it keeps or shows with one
`Redactor`, so the token never reaches an exception, a log or a file.
"""

from __future__ import annotations

import json
import urllib.parse

import httpx

__all__ = ["REDACTED", "Redactor"]

#: What replaces the client's own token in anything received.
REDACTED = "[REDACTED]"
# A token this short would match ordinary text (and corrupt every answer); real ones
# are dozens of characters.
_MIN_REDACTED_CHARS = 8


class Redactor:
    """Cuts one secret out of what a server sent, before it is kept or shown.

    The forms looked for: the secret as is, JSON-escaped and URL-encoded, since an
    echo may come back in any of them.
    """

    __slots__ = ("_bytes", "_texts")

    def __init__(self, secret: str) -> None:
        forms = (
            {
                secret,
                json.dumps(secret)[1:-1],
                urllib.parse.quote(secret, safe=""),
                urllib.parse.quote_plus(secret),
                # Every other character escaped, as some proxies and loggers do.
                "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in secret),
                "".join(c if c.isalnum() else f"%{ord(c):02x}" for c in secret),
            }
            if len(secret) >= _MIN_REDACTED_CHARS
            else set()
        )
        self._texts = tuple(sorted(forms, key=len, reverse=True))
        self._bytes = tuple(form.encode("utf-8") for form in self._texts)

    def text(self, text: str) -> str:
        """`text` without the secret."""
        for form in self._texts:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def content(self, data: bytes) -> bytes:
        """`data` without the secret."""
        for form in self._bytes:
            if form in data:
                data = data.replace(form, REDACTED.encode())
        return data

    def headers(self, headers: httpx.Headers) -> httpx.Headers:
        """`headers` without the secret in any name or value (a new object if changed)."""
        raw = headers.raw
        blob = b"\n".join(name + b":" + value for name, value in raw)
        if not any(form in blob for form in self._bytes):
            return headers
        return httpx.Headers(
            [(self.content(name), self.content(value)) for name, value in raw],
            encoding=headers.encoding,
        )
