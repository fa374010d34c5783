"""Reading one answer's body, bounded: the one reader behind every body the client reads.

`BodyReader` takes the raw bytes off the wire (``iter_raw``), decodes them itself with a
bound (`_decoding`), counts the decoded bytes against a cap, and checks the deadline on
every raw chunk, even one that decodes to nothing: a server that trickles bytes (or empty
deflate blocks) never trips httpx's per-read timeout. Where the bytes go is the sink's:

- `_flow.ReplySink` keeps them in memory as a `Reply` (API answers, an image host's
  error page); past its cap it notes the truncation and reading stops.
- `_download.DownloadSink` writes them to a temporary file and renames it into place;
  past its cap the download fails.

Each sink also says what each failure is (a timeout, a body that does not decode), so
the errors are the right ones for the caller: httpx's for an API answer, which the
retry rules read, and `DownloadError` for a download.

Both drivers read every body the same way (`SharkAPI._perform`, `AsyncSharkAPI._exchange`):
make the action's reader (`Send.reader`, `Fetch.reader`), `start` it, `feed` it each raw
chunk until it says stop, `finish` it for the result, and `close` it whatever happens.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import httpx

from ._decoding import BodyDecoder, UnsupportedEncoding

__all__ = ["BodyReader", "BodySink"]

R = TypeVar("R", covariant=True)

# The most one raw chunk may inflate to in one step: a compressed chunk is decoded in
# pieces of at most this, so memory stays bounded whatever the ratio.
_STEP = 1 << 20
# The decoder of a body without a Content-Encoding. It keeps no state, so one serves
# every body, and the reader passes such a body through without calling it.
_IDENTITY = BodyDecoder(None)


class BodySink(Protocol[R]):
    """Where a `BodyReader` puts a body's decoded bytes, and what its failures are."""

    @property
    def limit(self) -> int:
        """The most decoded bytes the body may have."""
        ...

    @property
    def checks_read_encoding(self) -> bool:
        """Whether an encoding this client cannot undo is refused on a body already read.

        A transport that reads the body itself (mock and caching ones) leaves it
        decoded by httpx, as far as httpx could.
        """
        ...

    def open(self, response: httpx.Response) -> None:
        """Before the body: check the answer's headers and open the destination."""

    def write(self, data: bytes) -> None:
        """Take decoded bytes (the total is within `limit`)."""

    def over_cap(self) -> None:
        """The body is over `limit`: raise, or note it (reading stops either way)."""

    def result(self, response: httpx.Response) -> R:
        """The finished body, once it has ended."""
        ...

    def close(self) -> None:
        """Release whatever an unfinished body holds; safe to call twice; never raises."""

    def timed_out(self) -> Exception:
        """The error for a body still arriving at the deadline."""
        ...

    def undecodable(self, exc: zlib.error | UnsupportedEncoding) -> Exception:
        """The error for a body that does not decode, or an encoding this client cannot undo."""
        ...


class BodyReader(Generic[R]):
    """Decodes one answer's raw body into a sink, within its cap and by its deadline."""

    __slots__ = (
        "clock",
        "close",
        "deadline",
        "decoder",
        "limit",
        "over",
        "response",
        "sink",
        "size",
    )

    def __init__(
        self,
        sink: BodySink[R],
        response: httpx.Response,
        deadline: float,
        clock: Callable[[], float],
    ) -> None:
        self.sink = sink
        self.response = response
        self.limit = sink.limit
        self.deadline = deadline
        self.clock = clock
        self.size = 0
        self.over = False
        self.decoder = _IDENTITY
        #: Releases what an unfinished body holds (the sink's temporary file); never raises.
        self.close: Callable[[], None] = sink.close

    def start(self) -> bool:
        """Choose the decoder and open the sink.

        Returns:
            True when the caller must now feed the raw body to `feed`; False when the
            transport had already read it (mock and caching transports do), in which
            case httpx decoded it and it has been taken here.

        Raises:
            Exception: The sink's errors: a Content-Encoding this client did not ask
                for, or whatever the sink refuses in the headers.
        """
        response = self.response
        sink = self.sink
        if response.is_stream_consumed:
            if sink.checks_read_encoding:
                encoding = response.headers.get("content-encoding")
                if encoding is not None:
                    self._decoder_for(encoding)
            sink.open(response)
            # iter_raw() would raise StreamConsumed; the decoded content is all there is.
            self.feed(response.content)
            return False
        encoding = response.headers.get("content-encoding")
        if encoding is not None:
            self.decoder = self._decoder_for(encoding)
        sink.open(response)
        return True

    def _decoder_for(self, encoding: str) -> BodyDecoder:
        try:
            return BodyDecoder(encoding)
        except UnsupportedEncoding as exc:
            raise self.sink.undecodable(exc) from exc

    def feed(self, chunk: bytes) -> bool:
        """Take one raw chunk; False once the body is over the cap (stop reading)."""
        if self.clock() > self.deadline:
            raise self.sink.timed_out()
        decoder = self.decoder
        if decoder is _IDENTITY:
            return self._keep(chunk)
        try:
            out = decoder.feed(chunk, min(self.limit - self.size + 1, _STEP))
            while True:
                if not self._keep(out):
                    return False
                if not decoder.pending:
                    return True
                out = decoder.feed(b"", min(self.limit - self.size + 1, _STEP))
        except zlib.error as exc:
            raise self.sink.undecodable(exc) from exc

    def _keep(self, data: bytes) -> bool:
        if not data:
            return True
        self.size += len(data)
        if self.size > self.limit:
            self.over = True
            self.sink.over_cap()
            return False
        self.sink.write(data)
        return True

    def finish(self) -> R:
        """The sink's result, once the body has ended (or was cut at the cap).

        Raises:
            Exception: The sink's errors: a compressed body that was cut short, or
                whatever the sink finds wrong with the whole body.
        """
        if not self.over and self.decoder is not _IDENTITY:
            try:
                self._keep(self.decoder.finish())
            except zlib.error as exc:
                raise self.sink.undecodable(exc) from exc
        return self.sink.result(self.response)
