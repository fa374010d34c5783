"""Building requests to the API: its URL, the token, the caller's client's defaults. No I/O.

`RequestBuilder` is a mixin of `BaseClient` (`_core`), below the flows in its MRO
(`BaseClient` -> `Polling` -> `RetryingRequests` -> `RequestBuilder`), so that every
flow builds its API requests with `_build` as an inherited method. `BaseClient` sets the
attributes declared here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Final

import httpx

from ._images import _b64encode, _Loaded

__all__ = ["ImageBody", "RequestBuilder"]

HeaderList = list[tuple[bytes, bytes]]

# Parsed job URLs kept for reuse by later polls (a few concurrent waits' worth).
_URL_CACHE_SIZE: Final = 4096


class RequestBuilder:
    """Requests to the API, built without ``http_client.build_request`` (see `_build`)."""

    _http: httpx.Client | httpx.AsyncClient
    #: The token and the encodings the client undoes: the headers of every API request.
    _auth: dict[str, str]
    _url_cache: dict[str, httpx.URL]
    # (the SDK's own headers, the client's defaults they were merged with, the host, the result)
    _header_cache: list[tuple[Mapping[str, str], HeaderList, bytes, httpx.Headers]]

    def _build(
        self,
        method: str,
        url: str,
        timeout: float,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | ImageBody | None = None,
    ) -> httpx.Request:
        """A request to the API itself (`url` is built from `base_url`): it carries the token.

        It is built here rather than by ``http_client.build_request``, which would parse
        `url` again and merge it with the client's base URL: a quarter of a poll's cost.
        The caller's default headers, cookies and query parameters still apply. The body
        goes in as a stream, with the headers httpx would add for it (``Host``,
        ``Content-Length``) set here: httpx's own way rebuilds the headers twice more,
        a third of this method's cost.
        """
        http = self._http
        parsed = self._parsed_url(url)
        stream = body if isinstance(body, ImageBody) else httpx.ByteStream(body or b"")
        request = httpx.Request(
            method,
            parsed,
            params=http.params or None,
            headers=self._merged_headers(headers or self._auth, parsed.netloc),
            cookies=http.cookies or None,
            stream=stream,
            # httpx.Timeout(timeout).as_dict(), without building the Timeout.
            extensions={
                "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
            },
        )
        if isinstance(stream, ImageBody):
            request.headers["Content-Length"] = str(stream.content_length)
        else:
            content = request.read()  # `request.content`, as for a body httpx encoded itself
            if body is not None:
                request.headers["Content-Length"] = str(len(content))
        return request

    def _merged_headers(self, own: Mapping[str, str], netloc: bytes) -> httpx.Headers:
        """The caller's client's default headers with the SDK's `own` over them.

        Merged once per set of defaults: building `httpx.Headers` twice more per request
        was a tenth of a poll's cost. A change to the client's headers is seen at once.
        Kept as `httpx.Headers`, which `httpx.Request` copies as they are (each request
        gets its own copy) instead of normalizing every header again. ``Host`` comes
        first, as httpx puts it, unless the caller's client sets its own.
        """
        defaults = self._http.headers.raw
        for cached_own, cached_defaults, cached_netloc, merged in self._header_cache:
            if cached_own is own and cached_netloc == netloc and cached_defaults == defaults:
                return merged
        headers = self._http.headers.copy()
        headers.update(own)
        if "Host" not in headers:
            headers = httpx.Headers([(b"Host", netloc), *headers.raw])
        merged = headers
        # `own` is one of the client's few long-lived header dicts; the defaults rarely
        # change, so this stays tiny (capped all the same).
        self._header_cache = [*self._header_cache[-7:], (own, defaults, netloc, merged)]
        return merged

    def _parsed_url(self, url: str) -> httpx.URL:
        # Parsing a URL is a tenth of a poll's cost, and a wait polls one URL many times.
        parsed = self._url_cache.get(url)
        if parsed is None:
            if len(self._url_cache) >= _URL_CACHE_SIZE:
                self._url_cache.clear()
            parsed = self._url_cache[url] = httpx.URL(url)
        return parsed


class ImageBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A JSON request body whose ``image`` field is base64-encoded while it is sent.

    Its length is known before the first byte goes out (`content_length`), so the
    request carries an exact Content-Length rather than chunked encoding.
    """

    def __init__(self, fields: dict[str, object], image: _Loaded) -> None:
        prefix = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        self._head = (prefix[:-1] + (',"image":"' if fields else '{"image":"')).encode("utf-8")
        self._tail = b'"}'
        self._image = image
        self.content_length = len(self._head) + 4 * ((image.size + 2) // 3) + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        for chunk in self._image.chunks():
            yield _b64encode(chunk)
        yield self._tail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # The file reads are local and short; the event loop is not held for long.
        for part in self:
            yield part
