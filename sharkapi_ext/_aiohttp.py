"""The optional aiohttp transport (``pip install 'sharkapi[aiohttp]'``), with exact errors.

`aiohttp_http_client()` builds an ``httpx.AsyncClient`` whose requests go through
aiohttp (via `httpx-aiohttp`), for `AsyncSharkAPI(http_client=...)`. The SDK itself does
not change: it still builds every request, bounds every read and decides every retry.
What aiohttp changes is the cost of each request (a quarter of httpcore's client CPU,
BENCHMARKS.md) and the connection pool, which keeps every released connection alive.

`httpx-aiohttp` 0.2 turns every ``aiohttp.ClientConnectionError`` into
``httpx.ConnectTimeout``: a connection refused, but also a server that dropped the
connection after the request was sent. The SDK treats a connect failure as "never
sent" and retries a submit on it, so that mapping would resubmit paid jobs. This module
therefore maps aiohttp's own exception (kept as ``__cause__``) again, by what happened:

- only aiohttp's connect timeout and connector errors (refused, DNS, TLS handshake),
  which aiohttp raises before any byte of the request is written, become
  ``httpx.ConnectTimeout`` / ``httpx.ConnectError`` ("never sent");
- everything else (a read timeout, a disconnect, a reset, a malformed answer) becomes a
  read-side error, so a submit that broke there is reported as outcome-unknown.

A submit's ``on_sending`` hook (a batch journals its intent there) is called by this
transport, not by the SDK's driver: right before the request's first byte is handed to
the socket, in the same synchronous step (aiohttp sends the headers together with the
first body chunk, from a task of its own a loop turn after ``session.request``). A
process killed at any moment has journaled every request that reached the wire, and
at most the one being written besides; the driver's call came before aiohttp had even
taken a connection.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import ssl
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from ._connection import DEFAULT_LIMITS, USER_AGENT, default_ssl_context
from ._core import ON_SENDING, ON_SENDING_AT_WIRE
from ._retry import UNSENT_ATTR

if TYPE_CHECKING:
    from httpx_aiohttp import AiohttpTransport as HttpxAiohttpTransport

__all__ = ["AiohttpTransport", "aiohttp_http_client", "map_exception"]

_Table = tuple[tuple[type[BaseException], type[httpx.TransportError]], ...]
# Body chunks as httpx-aiohttp reads them.
_CHUNK_BYTES = 16 * 1024


@functools.cache  # asked on every request (`AiohttpTransport._session`)
def _import_extra() -> type[HttpxAiohttpTransport]:
    # aiohttp is imported on first use only, so that `import sharkapi_ext` works (and
    # stays fast) without the extra.
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError as exc:
        raise ImportError(
            "the aiohttp transport needs the 'aiohttp' extra: pip install 'sharkapi[aiohttp]'"
        ) from exc
    return AiohttpTransport


def _require_extra() -> None:
    """Raise ImportError now if the extra is missing, without importing it (cheap)."""
    if not all(importlib.util.find_spec(name) for name in ("aiohttp", "httpx_aiohttp")):
        _import_extra()  # raises the ImportError that says which extra to install


# Stands for an attribute that httpx-aiohttp does not have (None is a value it uses).
_ABSENT: Any = object()


@functools.cache  # asked on every request, like `_import_extra`
def _session_class() -> type:
    import aiohttp

    return aiohttp.ClientSession


@functools.cache
def _table() -> _Table:
    """Pairs (aiohttp exception class, the httpx class the SDK's retry rules understand).

    The first match wins, so subclasses come before their bases.
    """
    _import_extra()
    import aiohttp

    never_sent: _Table = (
        # Raised by aiohttp only around `connector.connect()`, before the request is
        # written (aiohttp/client.py, `_connect_and_send_request`).
        (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
        (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS handshake
    )
    may_have_been_sent: _Table = (
        (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
        (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
        (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
        (TimeoutError, httpx.ReadTimeout),
        (aiohttp.ClientError, httpx.ReadError),
        (OSError, httpx.ReadError),
    )
    return never_sent + may_have_been_sent


class _HookFailed(Exception):
    """The ``on_sending`` hook raised as the body was about to be written: nothing was."""

    def __init__(self, original: BaseException) -> None:
        super().__init__("the on_sending hook refused the request")
        self.original = original


@functools.cache
def _hooked_payload() -> type:
    """The in-memory body for aiohttp that calls the ``on_sending`` hook before its write.

    `aiohttp.payload.BytesPayload` is public API; aiohttp writes a request's buffered
    headers together with its first body chunk (`StreamWriter.write`), so nothing of the
    request has reached the socket when the hook runs, and the hook and the socket write
    happen in one synchronous step (a synchronous hook: nothing else runs in between).
    """
    from aiohttp.payload import BytesPayload

    class HookedBytesPayload(BytesPayload):
        def __init__(self, value: bytes, hook: Callable[[], object]) -> None:
            super().__init__(value)
            self._hook: Callable[[], object] | None = hook
            self.failure: BaseException | None = None

        async def _fire(self) -> None:
            hook, self._hook = self._hook, None  # once, whichever write runs
            if hook is None:
                return
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except BaseException as exc:
                self.failure = exc
                # An Exception, so that aiohttp closes the connection the usual way.
                raise _HookFailed(exc) from exc

        async def write(self, writer: Any) -> None:
            await self._fire()
            await super().write(writer)

        async def write_with_length(self, writer: Any, content_length: int | None) -> None:
            await self._fire()
            await super().write_with_length(writer, content_length)

    return HookedBytesPayload


class _Hook:
    """A request's ``on_sending`` hook; calling it first marks the driver's probe."""

    __slots__ = ("_hook", "_probe")

    def __init__(self, hook: Callable[[], object], probe: Any) -> None:
        self._hook = hook
        self._probe = probe

    def __call__(self) -> object:
        # From here on the request may reach the server (the driver's `_SendingProbe`).
        self._probe.started = True
        return self._hook()


async def _call_hook(hook: Callable[[], object]) -> None:
    try:
        result = hook()
        if inspect.isawaitable(result):
            await result
    except BaseException as exc:
        raise _HookFailed(exc) from exc


def _unsent(failed: _HookFailed) -> BaseException:
    original = failed.original
    with contextlib.suppress(AttributeError):
        setattr(original, UNSENT_ATTR, True)  # the driver's rule: nothing was sent
    return original


def _quotable(cause: BaseException) -> bool:
    # Other messages may quote the server's bytes (a hostile server can echo the token
    # in a header), so only the class name is kept; these name the host and port only.
    import aiohttp

    return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ServerTimeoutError)


def map_exception(exc: BaseException, request: httpx.Request) -> BaseException:
    """The httpx exception that says what really happened to `request`.

    Args:
        exc: What the aiohttp transport raised: an httpx exception made by
            `httpx-aiohttp` from an aiohttp one (its ``__cause__``), or an aiohttp or
            OS exception it let through.
        request: The request that failed.

    Returns:
        A new httpx exception when `exc` came from aiohttp, else `exc` itself.
    """
    cause: BaseException = exc
    if isinstance(exc, httpx.HTTPError):
        if exc.__cause__ is None or isinstance(exc.__cause__, httpx.HTTPError):
            return exc  # httpx's own (an unsupported scheme, a bad header): already exact
        cause = exc.__cause__
    for source, target in _table():
        if isinstance(cause, source):
            detail = type(cause).__name__
            if _quotable(cause) and str(cause):
                detail += f": {cause}"
            return target(f"aiohttp: {detail}", request=request)
    return exc


def _reraise(exc: Exception, request: httpx.Request) -> NoReturn:
    mapped = map_exception(exc, request)
    if mapped is exc:
        raise exc
    raise mapped from exc


class _MappedStream(httpx.AsyncByteStream):
    """An answer's body whose read errors are mapped like the request's."""

    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            _reraise(exc, self._request)

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        except Exception as exc:
            _reraise(exc, self._request)


class _AiohttpBody(httpx.AsyncByteStream):
    """An answer's body read straight from aiohttp, its errors mapped like the request's."""

    def __init__(self, response: Any, request: httpx.Request) -> None:
        self._response = response  # an aiohttp.ClientResponse
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK_BYTES):
                yield chunk
        except Exception as exc:
            _reraise(exc, self._request)

    async def aclose(self) -> None:
        try:
            await self._response.__aexit__(None, None, None)  # releases the connection
        except Exception as exc:
            _reraise(exc, self._request)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends through aiohttp and maps its errors exactly.

    A request whose body is in memory (every API call but an image upload) goes to the
    aiohttp session of `httpx_aiohttp.AiohttpTransport` directly, which halves this
    layer's cost per request (BENCHMARKS.md, section 2); `httpx-aiohttp` still builds
    the session (TLS, limits, keep-alive) and sends what is left: streamed bodies, and
    every request when `inner` is another transport or a proxy is set.

    Args:
        inner: The transport to wrap; by default `httpx_aiohttp.AiohttpTransport`
            made with `options` (``verify``, ``cert``, ``trust_env``, ``limits``,
            ``proxy``, ...).
        make_inner: Builds `inner` on the first request instead (`aiohttp_http_client`:
            aiohttp is imported only by a client that sends something).
        **options: Passed to `httpx_aiohttp.AiohttpTransport` when `inner` is None.
    """

    #: It calls a submit's ``on_sending`` hook itself, as the request goes on the wire.
    calls_on_sending = True

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        make_inner: Callable[[], httpx.AsyncBaseTransport] | None = None,
        **options: Any,
    ) -> None:
        if inner is None and make_inner is None:
            inner = _import_extra()(**options)
        self._inner = inner
        self._make_inner = make_inner

    @property
    def inner(self) -> httpx.AsyncBaseTransport:
        """The wrapped transport (built now if it was to be built on first use)."""
        if self._inner is None:
            assert self._make_inner is not None
            self._inner = self._make_inner()
        return self._inner

    @inner.setter
    def inner(self, transport: httpx.AsyncBaseTransport) -> None:
        self._inner = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through aiohttp.

        Raises:
            httpx.TransportError: Mapped from aiohttp's exception, as described above.
            BaseException: What the request's ``on_sending`` hook raised (nothing was
                sent then).
        """
        extensions = request.extensions
        probe = extensions.get(ON_SENDING_AT_WIRE)
        hook = _Hook(extensions[ON_SENDING], probe) if probe is not None else None
        session = self._session() if isinstance(request.stream, httpx.ByteStream) else None
        try:
            if session is not None:
                return await self._send(session, request, hook)
            if hook is not None:
                await _call_hook(hook)  # a streamed body: handed to `inner` only after it
            response = await self.inner.handle_async_request(request)
        except _HookFailed as failed:
            raise _unsent(failed) from None
        except Exception as exc:
            _reraise(exc, request)
        stream = response.stream
        if isinstance(stream, httpx.AsyncByteStream):
            response.stream = _MappedStream(stream, request)
        return response

    def _session(self) -> Any:
        """The aiohttp session to send to directly, or None to go through `inner`.

        ``client``, ``get_client`` and ``proxy`` are httpx-aiohttp 0.2's attributes, not
        its documented API: when a release names them otherwise, or ``client`` holds
        something other than an aiohttp session, every request takes `inner`'s public
        ``handle_async_request`` (tests/client/test_private_hooks.py).
        """
        inner = self.inner
        if type(inner) is not _import_extra() or getattr(inner, "proxy", _ABSENT) is not None:
            return None
        client = getattr(inner, "client", _ABSENT)
        get_client = getattr(inner, "get_client", None)
        if client is _ABSENT or get_client is None:
            return None
        if callable(client) or client is None:
            client = inner.client = get_client()  # as httpx-aiohttp does on its first request
        return client if isinstance(client, _session_class()) else None

    async def _send(
        self, session: Any, request: httpx.Request, hook: Callable[[], object] | None
    ) -> httpx.Response:
        # What httpx_aiohttp.AiohttpTransport.handle_async_request does, minus a context
        # manager per call and a second wrapper around the body.
        import aiohttp  # already loaded by httpx-aiohttp: a dictionary lookup

        timeout = request.extensions.get("timeout") or {}
        try:
            content = request.content
        except httpx.RequestNotRead:
            # The request httpx builds to follow a redirect (`_build_redirect_request`)
            # takes the first one's stream without reading it; in memory, so read it now.
            content = await request.aread()
        data: Any = content or None
        if hook is not None:
            if data is None:
                await _call_hook(hook)  # no body: aiohttp writes the headers at once
            else:
                data = _hooked_payload()(content, hook)
        try:
            answer = await session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=data,
                allow_redirects=False,
                auto_decompress=False,  # the SDK decodes (and bounds) bodies itself
                timeout=aiohttp.ClientTimeout(  # httpx's phases in aiohttp's terms
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except Exception:
            failure = getattr(data, "failure", None)
            if failure is not None:  # the hook refused: aiohttp wrote nothing of it
                raise _HookFailed(failure) from None
            raise
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode()
        return httpx.Response(
            status_code=answer.status,
            headers=answer.raw_headers,
            stream=_AiohttpBody(answer, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        """Close aiohttp's session and its connections."""
        if self._inner is not None:  # never built: nothing was sent, nothing to close
            await self._inner.aclose()


def aiohttp_http_client(
    *,
    verify: ssl.SSLContext | bool = True,
    limits: httpx.Limits = DEFAULT_LIMITS,
    transport_factory: Callable[..., httpx.AsyncBaseTransport] | None = None,
    **client_options: Any,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that sends through aiohttp, for `AsyncSharkAPI`.

    Use it as ``AsyncSharkAPI(http_client=aiohttp_http_client())``; as with any client
    you pass in, close it yourself (``async with``) when done.

    Args:
        verify: TLS verification: True (the system's CAs, or ``SSL_CERT_FILE``), False,
            or an ``ssl.SSLContext``.
        limits: Pool limits. aiohttp honours ``max_connections`` and
            ``keepalive_expiry``, and keeps every released connection alive.
        transport_factory: Builds the inner transport from ``verify`` and ``limits``
            (tests use it to inject faults); by default `httpx_aiohttp`'s.
        **client_options: Passed to ``httpx.AsyncClient`` (``headers``, ``timeout``,
            ``event_hooks``, ...).

    Returns:
        The client. Its transport is an `AiohttpTransport`.

    Raises:
        ImportError: When the ``aiohttp`` extra is not installed.
    """
    if transport_factory is None:
        _require_extra()

    def make_inner() -> httpx.AsyncBaseTransport:
        # On the first request: a client that sends nothing (a batch with nothing left
        # to do) neither imports aiohttp (about 0.1-0.2 s) nor loads the system's CAs.
        make = transport_factory or _import_extra()
        tls = default_ssl_context() if verify is True else verify  # one per process
        return make(verify=tls, limits=limits)

    transport = AiohttpTransport(make_inner=make_inner)
    headers = httpx.Headers({"User-Agent": USER_AGENT})
    headers.update(client_options.pop("headers", None) or {})
    return httpx.AsyncClient(transport=transport, headers=headers, **client_options)
