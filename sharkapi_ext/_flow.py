"""The flow protocol: what a flow asks its driver to do, and what it gets back.

Each operation is written once, as a generator (a "flow") that yields what it needs done,
`Send`, `Fetch` or `Sleep`, and receives the result. `SharkAPI` and `AsyncSharkAPI` each
hold only a small driver (`_run` and `_perform`) that performs those actions, with or
without `await`. So the twins share every line that does no I/O.

One call, end to end: `SharkAPI.get_job(job_id)` runs `self._run(self._get_job_flow(job_id))`.
`_get_job_flow` (`_polling`) builds the request and delegates to `_request_flow` (`_retry`),
which yields `Send(request, deadline)`. The driver sends it, reads the body through a
`BodyReader` and sends the `Reply` back into the flow; `_request_flow` returns a 2xx reply
or decides, by the retry rules, to yield `Sleep(pause)` and try again, or to raise. The
parsed `JobStatus` is the flow's return value, which `_run` returns to the caller.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

import httpx

from ._decoding import BodyDecoder, UnsupportedEncoding
from ._exceptions import SharkAPIError

if TYPE_CHECKING:
    from ._download import DownloadSink

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_DOWNLOAD_ERROR_BYTES",
    "Action",
    "BodyReader",
    "Fetch",
    "Flow",
    "OutOfTime",
    "Reply",
    "Send",
    "Sleep",
]

T = TypeVar("T")

# A JSON answer of the API is a few hundred bytes; a hostile server must not be able
# to make the client buffer more than this.
MAX_ANSWER_BYTES: Final = 1024 * 1024
# An image host's error page is only kept as an excerpt.
MAX_DOWNLOAD_ERROR_BYTES: Final = 4096


# The actions and replies are NamedTuples: several are made per request, and a
# NamedTuple is cheaper to create than a frozen attrs instance.
class Send(NamedTuple):
    """Send `request` and read its whole answer (at most `max_bytes`) by `deadline`."""

    request: httpx.Request
    deadline: float
    max_bytes: int = MAX_ANSWER_BYTES

    def reader(self, clock: Callable[[], float]) -> BodyReader:
        """A reader for this answer's body."""
        return BodyReader(self.request, self.max_bytes, self.deadline, clock)


class Fetch(NamedTuple):
    """Send `request` and stream a successful answer into `sink`.

    The result is the file's Path on success, else the error answer as a `Reply`.
    """

    request: httpx.Request
    sink: DownloadSink

    def reader(self, clock: Callable[[], float]) -> BodyReader:
        """A reader for an error answer's body (an excerpt is enough)."""
        return BodyReader(self.request, MAX_DOWNLOAD_ERROR_BYTES, self.sink.deadline, clock)


class Sleep(NamedTuple):
    """Wait `seconds` (through the client's injectable sleep)."""

    seconds: float


Action = Send | Fetch | Sleep
Flow = Generator[Action, Any, T]


class Reply(NamedTuple):
    """One answer: its status, headers and body (cut at the action's `max_bytes`)."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    truncated: bool = False


class BodyReader:
    """Collects an answer's body from its raw bytes, enforcing the size cap and the deadline.

    The drivers feed it raw chunks (`iter_raw`) and it decodes them itself (see
    `_decoding`): the deadline is checked on every chunk off the wire, even one that
    decodes to nothing, and a body that does not decode raises `httpx.DecodingError`.
    """

    __slots__ = (
        "chunks",
        "clock",
        "deadline",
        "decoder",
        "limit",
        "request",
        "size",
        "truncated",
    )

    def __init__(
        self, request: httpx.Request, limit: int, deadline: float, clock: Callable[[], float]
    ) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.deadline = deadline
        self.clock = clock
        self.request = request
        self.truncated = False
        self.decoder = BodyDecoder(None)

    def start(self, response: httpx.Response) -> bool:
        """Choose the decoder for `response`.

        Returns:
            True when the caller must now feed the raw body to `add`; False when the
            transport had already read it (mock and caching transports do), in which
            case httpx decoded it and it has been taken here.

        Raises:
            httpx.DecodingError: A Content-Encoding this client did not ask for.
        """
        if response.is_stream_consumed:
            self.add(response.content)
            return False
        try:
            self.decoder = BodyDecoder(response.headers.get("content-encoding"))
        except UnsupportedEncoding as exc:
            raise httpx.DecodingError(str(exc), request=self.request) from exc
        return True

    def add(self, chunk: bytes) -> bool:
        """Take one raw chunk; False once the body is over the cap (stop reading)."""
        if self.clock() > self.deadline:
            # A server that trickles bytes (or empty deflate blocks, which decode to
            # nothing) never trips httpx's per-read timeout.
            raise httpx.ReadTimeout("the answer took longer than the timeout", request=self.request)
        decoder = self.decoder
        try:
            out = decoder.feed(chunk, self.limit - self.size + 1)
            while True:
                if not self._keep(out):
                    return False
                if not decoder.pending:
                    return True
                out = decoder.feed(b"", self.limit - self.size + 1)
        except zlib.error as exc:
            raise httpx.DecodingError(
                f"the answer does not decode: {exc}", request=self.request
            ) from exc

    def _keep(self, data: bytes) -> bool:
        self.size += len(data)
        if self.size > self.limit:
            self.truncated = True
            return False
        if data:
            self.chunks.append(data)
        return True

    def reply(self, response: httpx.Response) -> Reply:
        """The finished `Reply`.

        Raises:
            httpx.DecodingError: A compressed body that was cut short.
        """
        if not self.truncated:
            try:
                self._keep(self.decoder.finish())
            except zlib.error as exc:
                raise httpx.DecodingError(
                    f"the answer does not decode: {exc}", request=self.request
                ) from exc
        content = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        return Reply(response.status_code, response.headers, content, self.truncated)


class OutOfTime(Exception):
    """Internal: a wait's deadline left no time to retry `error`."""

    def __init__(self, error: SharkAPIError) -> None:
        super().__init__(str(error))
        self.error = error
