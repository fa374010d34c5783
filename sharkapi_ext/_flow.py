"""The flow protocol: what a flow asks its driver to do, and what it gets back.

Each operation is written once, as a generator (a "flow") that yields what it needs done,
`Send`, `Fetch` or `Sleep`, and receives the result. `SharkAPI` and `AsyncSharkAPI` each
hold only a small driver that performs those actions, with or without `await`, and holds
nothing but I/O lines: `_run` walks the flow (`Steps` keeps the bookkeeping), `_perform`
sleeps or sends (the async one through its gate, `_exchange`), `_open` gets the answer's
headers, and the raw body is poured into the action's `BodyReader` (`_body`): "start;
feed each raw chunk; finish", the same for an API answer (a `Reply`, through a
`ReplySink`) and a download (a file, through the `DownloadSink`; the async driver runs
the download's last step, its fsync and rename, in a thread: `_download.finish_off_loop`).
So the twins share every line that does no I/O.

One call, end to end: `SharkAPI.get_job(job_id)` runs `self._run(self._get_job_flow(job_id))`.
`_get_job_flow` (`_polling`) builds the request (`_requests`) and delegates to
`_request_flow` (`_retry`), which yields `Send(request, deadline)`. The driver sends it,
reads the body through `Send.reader` and sends the `Reply` back into the flow;
`_request_flow` returns a 2xx reply or decides, by the retry rules, to yield
`Sleep(pause)` and try again, or to raise. The parsed `JobStatus` is the flow's return
value, which `_run` returns to the caller.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final, Generic, NamedTuple, TypeVar

import httpx

from ._body import BodyReader, BodySink
from ._decoding import UnsupportedEncoding
from ._exceptions import SharkAPIError

if TYPE_CHECKING:
    from pathlib import Path

    from ._download import DownloadSink

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_DOWNLOAD_ERROR_BYTES",
    "Action",
    "Fetch",
    "Flow",
    "OutOfTime",
    "Reply",
    "ReplySink",
    "Send",
    "Sleep",
    "Steps",
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

    def reader(self, response: httpx.Response, clock: Callable[[], float]) -> BodyReader[Reply]:
        """The reader of this answer's body, into a `Reply`."""
        return BodyReader(ReplySink(self.request, self.max_bytes), response, self.deadline, clock)


class Fetch(NamedTuple):
    """Send `request` and stream a successful answer into `sink`.

    The result is the file's Path on success, else the error answer as a `Reply`.
    """

    request: httpx.Request
    sink: DownloadSink

    @property
    def deadline(self) -> float:
        """When the whole download must be done, retries included."""
        return self.sink.deadline

    def reader(
        self, response: httpx.Response, clock: Callable[[], float]
    ) -> BodyReader[Path | Reply]:
        """The reader of this answer's body: the image into `sink`, or an error's excerpt."""
        sink: BodySink[Path | Reply] = (
            self.sink if response.is_success else ReplySink(self.request, MAX_DOWNLOAD_ERROR_BYTES)
        )
        return BodyReader(sink, response, self.sink.deadline, clock)


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


class ReplySink:
    """The memory sink of a `BodyReader` (`_body`): an answer's body, kept as a `Reply`.

    Past its cap it keeps what it has, marks the `Reply` truncated, and reading stops.
    Its failures are httpx's, which the retry rules read: a body still arriving at the
    deadline is a `httpx.ReadTimeout`, one that does not decode a `httpx.DecodingError`.
    """

    __slots__ = ("chunks", "close", "limit", "request", "truncated", "write")

    # A body the transport already read was decoded by httpx: it is taken as it is.
    checks_read_encoding = False

    def __init__(self, request: httpx.Request, limit: int) -> None:
        self.request = request
        self.limit = limit
        self.truncated = False
        chunks: list[bytes] = []
        self.chunks = chunks
        # The list's own methods, called without a Python frame between (once per
        # answer, or per chunk): keep decoded bytes; drop them when the reader closes.
        self.write: Callable[[bytes], None] = chunks.append
        self.close: Callable[[], None] = chunks.clear

    def open(self, response: httpx.Response) -> None:
        """Nothing to check or open for a body kept in memory."""

    def over_cap(self) -> None:
        """Keep what came within the cap; the `Reply` says it was cut."""
        self.truncated = True

    def result(self, response: httpx.Response) -> Reply:
        """The finished `Reply`."""
        chunks = self.chunks
        content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return Reply(response.status_code, response.headers, content, self.truncated)

    def timed_out(self) -> Exception:
        """A body still arriving at the deadline."""
        return httpx.ReadTimeout("the answer took longer than the timeout", request=self.request)

    def undecodable(self, exc: zlib.error | UnsupportedEncoding) -> Exception:
        """A body that does not decode, or an encoding this client did not ask for."""
        if isinstance(exc, UnsupportedEncoding):
            return httpx.DecodingError(str(exc), request=self.request)
        return httpx.DecodingError(f"the answer does not decode: {exc}", request=self.request)


# `Steps.pending` once the flow has returned from a `throw`.
_RETURNED: Final[Any] = object()


class Steps(Generic[T]):
    """A flow as a driver walks it, one action at a time.

    The driver takes each action from `next` (None once the flow has returned its
    `value`), performs it, and puts the outcome in: the result in `result`, or an
    exception through `throw`, called in the driver's ``except`` block so that what
    the flow raises in turn has it as its context. What the flow raises goes through
    `next` and `throw` to the driver's caller.
    """

    __slots__ = ("flow", "pending", "result", "value")

    def __init__(self, flow: Flow[T]) -> None:
        self.flow = flow
        self.result: Any = None
        self.pending: Action | None = None
        self.value: T

    def next(self) -> Action | None:
        """The flow's next action, or None once it has returned (its value is `value`)."""
        action = self.pending
        if action is not None:  # the flow's answer to `throw`
            self.pending = None
            return None if action is _RETURNED else action
        try:
            return self.flow.send(self.result)
        except StopIteration as stop:
            self.value = stop.value
            return None

    def throw(self, exc: BaseException) -> None:
        """Throw `exc` into the flow, which raises, or handles it and yields the next action."""
        try:
            self.pending = self.flow.throw(exc)
        except StopIteration as stop:
            self.value = stop.value
            self.pending = _RETURNED


class OutOfTime(Exception):
    """Internal: a wait's deadline left no time to retry `error`."""

    def __init__(self, error: SharkAPIError) -> None:
        super().__init__(str(error))
        self.error = error
