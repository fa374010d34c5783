"""Undoing a Content-Encoding ourselves, on raw bytes, with a bound on what comes out.

httpx decodes inside its byte iterators, so a caller that counts decoded bytes never
runs while a decoder produces nothing: a gzip body made of empty deflate blocks streams
forever without one decoded byte, and no size or deadline check ever runs. Both twins
therefore read the raw bytes (`iter_raw`), check the deadline on each raw chunk, and
decode here; every decode error is a `zlib.error` caught and re-raised by the caller
as a typed error.
"""

from __future__ import annotations

import zlib
from typing import Final

__all__ = ["ACCEPT_ENCODING", "BodyDecoder", "UnsupportedEncoding"]

#: What the client asks for: the encodings `BodyDecoder` undoes with a bound.
ACCEPT_ENCODING: Final = "gzip, deflate"
# 32 + 15: a gzip or a zlib header, detected from the first bytes.
_GZIP_OR_ZLIB: Final = 47


class UnsupportedEncoding(ValueError):
    """A Content-Encoding this client did not ask for and cannot undo."""


class BodyDecoder:
    """Decodes one body (identity, gzip, x-gzip, deflate) in bounded steps.

    Call `feed` with each raw chunk and a `max_length`; while `pending` is true, call
    ``feed(b"", max_length)`` for more of what that chunk inflates to. `finish` returns
    the rest and raises `zlib.error` for a compressed stream that ends early.
    """

    __slots__ = ("_inflate", "_raw_deflate_ok", "_tail")

    def __init__(self, content_encoding: str | None) -> None:
        encoding = (content_encoding or "identity").strip().lower()
        self._tail = b""
        self._raw_deflate_ok = False
        if encoding in ("", "identity"):
            self._inflate: zlib._Decompress | None = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._inflate = zlib.decompressobj(wbits=_GZIP_OR_ZLIB)
            # Some servers send "deflate" as a raw deflate stream, without the zlib header.
            self._raw_deflate_ok = encoding == "deflate"
        else:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding[:40]!r}")

    @property
    def identity(self) -> bool:
        """True when the body is not compressed."""
        return self._inflate is None

    @property
    def pending(self) -> bool:
        """True when the last chunk has more to give (`feed(b"", n)` for it)."""
        return bool(self._tail)

    def feed(self, data: bytes, max_length: int) -> bytes:
        """Decode `data` (after any pending input); at most `max_length` bytes come out.

        Raises:
            zlib.error: The data is not a valid compressed stream.
        """
        if self._inflate is None:
            return data
        if self._tail:
            data = self._tail + data
        try:
            out = self._inflate.decompress(data, max(1, max_length))
        except zlib.error:
            if not self._raw_deflate_ok:
                raise
            self._raw_deflate_ok = False
            self._inflate = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
            out = self._inflate.decompress(data, max(1, max_length))
        self._raw_deflate_ok = False
        self._tail = self._inflate.unconsumed_tail
        return out

    def finish(self) -> bytes:
        """What is left once the body has ended.

        Raises:
            zlib.error: The compressed stream was cut short.
        """
        if self._inflate is None:
            return b""
        rest = self._inflate.flush()
        if not self._inflate.eof:
            raise zlib.error("the compressed body ends before its end marker")
        return rest
