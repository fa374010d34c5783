"""`BaseClient`: everything the sync and async clients share; nothing here does I/O.

The client's configuration and the submit, generate and download flows live here; the
rest has one home each: where and how it connects (token, base URL, TLS, pool limits) in
`_connection`, what a valid submit is in `_validation`, building API requests in
`_requests`, the retry rules and the retry flow in `_retry`, polling and waiting in
`_polling` (`BaseClient` inherits all three: `Polling` -> `RetryingRequests` ->
`RequestBuilder`), the flow protocol (`Send`, `Fetch`, `Sleep`, `Reply`) in `_flow`,
reading bodies in `_body`, and answers in `_models`. The twins `SharkAPI` and
`AsyncSharkAPI` add only a small driver each (see `_flow` for one call walked from the
public method to the driver).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Self, cast

import attrs
import httpx
from sharkapi_client.api.generation import generate_image as _generate_op
from sharkapi_client.api.generation import get_job as _get_job_op
from sharkapi_client.models import GenerateRequest
from sharkapi_spec import SUCCESS_STATUS

from ._connection import (
    DEFAULT_BASE_URL,
    DEFAULT_LIMITS,
    USER_AGENT,
    default_ssl_context,
    http_url,
    resolve_base_url,
    resolve_token,
)
from ._decoding import ACCEPT_ENCODING
from ._download import DownloadSink, destination_for
from ._exceptions import (
    ClientClosedError,
    DownloadError,
    InvalidRequestError,
    SharkAPIError,
    UnexpectedResponseError,
    body_excerpt,
    record_interrupted_job,
)
from ._flow import Flow
from ._images import ImageSource
from ._models import Job, JobStatus, parse_job
from ._pacing import Pacer
from ._polling import Polling
from ._redaction import Redactor
from ._requests import ImageBody
from ._retry import RequestKind, RetryPolicy
from ._validation import JSON, check_callback, check_positive, validate_generate

__all__ = ["DEFAULT_BASE_URL", "ON_SENDING", "ON_SENDING_AT_WIRE", "BaseClient"]

logger = logging.getLogger("sharkapi")
# httpx logs each request it sends; requests sent straight to the transport still are.
_httpx_logger = logging.getLogger("httpx")

#: The request extension holding a submit's ``on_sending`` hook (see `_submit_flow`).
ON_SENDING: Final = "sharkapi.on_sending"
#: Set on a request whose transport calls its `ON_SENDING` hook itself, in the same
#: synchronous step as its first write to the socket (`_aiohttp.AiohttpTransport`, whose
#: class says so with ``calls_on_sending = True``); the driver then does not. It holds
#: an object whose ``started`` the transport sets to True as it calls the hook.
ON_SENDING_AT_WIRE: Final = "sharkapi.on_sending_at_wire"


class _NoBody:
    """Stands in for a request body when only an operation's method and URL are wanted."""

    @staticmethod
    def to_dict() -> dict[str, Any]:
        return {}


_NO_BODY: Final = _NoBody()


class BaseClient(Polling):
    """Configuration and every flow; subclasses add only the I/O driver."""

    _http: httpx.Client | httpx.AsyncClient
    #: The httpx client class the twin sends through (and makes when none is given).
    _http_class: type[httpx.Client] | type[httpx.AsyncClient]
    #: Set by `close()`/`aclose()`: every later request is refused before it is sent.
    _closed: bool = False

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        poll_interval: float,
        http_client: httpx.Client | httpx.AsyncClient | None,
        clock: Callable[[], float],
        allow_insecure_http: bool,
        rate_limit: float | None = None,
        pacing: bool = True,
    ) -> None:
        if http_client is not None and not isinstance(http_client, self._http_class):
            raise InvalidRequestError(
                "http_client", f"must be an httpx.{self._http_class.__name__}"
            )
        self.base_url: httpx.URL = resolve_base_url(base_url, allow_insecure_http)
        self._base = str(self.base_url)
        self._url_cache = {}
        self._header_cache = []
        secret = resolve_token(token)
        # What a server echoes of the token is cut out of every answer before it is kept.
        self._redactor = Redactor(secret)
        # Only the encodings BodyDecoder undoes with a bound (a caller's client may ask
        # for more); the token goes on API requests only.
        self._auth = {"Authorization": f"Bearer {secret}", "Accept-Encoding": ACCEPT_ENCODING}
        self.timeout: float = check_positive("timeout", timeout)
        self.poll_interval: float = check_positive("poll_interval", poll_interval)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError(
                "max_retries", f"must be a whole number >= 0, got {max_retries!r}"
            )
        self.retry_policy: RetryPolicy = RetryPolicy(max_retries=max_retries)
        self._clock = clock
        if rate_limit is not None and (
            isinstance(rate_limit, bool)
            or not isinstance(rate_limit, int | float)
            or not 0 < rate_limit < float("inf")
        ):
            raise InvalidRequestError(
                "rate_limit",
                f"must be None or a positive number of requests a second, got {rate_limit!r}",
            )
        # One pacing gate for every API request of this client (`_pacing`).
        self._pacer = Pacer(rate_limit, clock, adaptive=bool(pacing))
        # The generated operations own the API's paths and methods (openapi.yaml is the
        # source of truth); the SDK sends their requests through its own retry loop.
        # No `GenerateRequest` is built for this: a field a later spec makes required
        # would make that raise, and then no client could even read its paid jobs.
        generate = _generate_op._get_kwargs(body=cast(GenerateRequest, _NO_BODY))
        self._submit_method = generate["method"].upper()
        self._submit_url = self._base + generate["url"]
        self._submit_headers = {**generate.get("headers", {}), **self._auth}
        placeholder = "JOB_ID"
        job_url = _get_job_op._get_kwargs(placeholder)["url"]
        self._job_url_prefix = self._base + job_url.removesuffix(placeholder)
        # Made last, so that a bad option above leaves no connection pool to close.
        self._owns_http = http_client is None
        self._http = http_client or self._default_http_client()

    def _default_http_client(self) -> httpx.Client | httpx.AsyncClient:
        """The client's own httpx client, when the caller gave none."""
        return self._http_class(
            headers={"User-Agent": USER_AGENT}, limits=DEFAULT_LIMITS, verify=default_ssl_context()
        )

    def _check_open(self) -> None:
        """Refuse to send once this client, or the ``http_client`` it sends through, is closed.

        httpx enforces this in ``Client.send`` (its ``ClientState``), which API calls
        skip (`_direct_transport`), so the drivers ask here before every request.

        Raises:
            ClientClosedError: The client was closed; nothing was sent.
        """
        if self._closed or self._http.is_closed:
            whose = "this client" if self._closed else "its http_client"
            raise ClientClosedError(
                f"{whose} was closed; nothing was sent (make a new {type(self).__name__}, or "
                "use it as a context manager around all its calls)"
            )

    def _direct_transport(self, request: httpx.Request) -> Any:
        """The transport to hand an API request to without ``http_client.send``, or None.

        ``send`` costs more than a third of a poll's client time on a fast transport
        (BENCHMARKS.md, section 1): auth, redirects, event hooks, a round trip through
        urllib's types for the cookie jar, and wrapping the answer. For a request to the
        API none of it does anything unless the caller's client asks for it, so the SDK
        calls the client's transport itself (`_received` then does what ``send`` would
        still do) when the client is a plain ``httpx`` client (a subclass may override
        ``send``), has no event hooks, and the URL carries no user info (which ``send``
        turns into Basic auth). The client's mounts and proxies still route the request.
        Downloads always go through ``send``, which follows redirects.
        """
        http = self._http
        if (
            type(http) is not self._http_class
            or any(http.event_hooks.values())
            or request.url.userinfo
        ):
            return None
        route = getattr(http, "_transport_for_url", None)  # httpx's own routing (mounts)
        return None if route is None else route(request.url)

    def _received(self, request: httpx.Request, response: httpx.Response) -> None:
        """What ``send`` does with an answer the SDK got from the transport itself."""
        response.request = request
        # Without a Set-Cookie (or Set-Cookie2) header the jar adds nothing
        # (``CookieJar.make_cookies``), and handing it the answer costs ~35 µs: it is
        # skipped, with no change in behaviour. One pass over the raw names: each
        # ``"set-cookie" in headers`` raises and catches a KeyError when it is absent.
        for name, _ in response.headers.raw:
            if name.lower().startswith(b"set-cookie"):
                self._http.cookies.extract_cookies(response)
                break
        if _httpx_logger.isEnabledFor(logging.INFO):
            _httpx_logger.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        poll_interval: float | None = None,
    ) -> Self:
        """A copy of this client with other options, sharing its connections and pacing.

        Cheap (no new connection pool, no new TLS context): use it per call, as in
        ``client.with_options(timeout=5).get_job(job_id)``. The copy shares the
        original's HTTP client, pacing gate and token; closing the copy closes nothing
        of the original's, and closing the original closes the copy's connections too.

        Args:
            timeout: Seconds one request may take (see the client's ``timeout``).
            max_retries: Retries of one call after transient failures.
            poll_interval: Seconds between polls in `wait`.

        Returns:
            The new client; options not given keep this client's values.

        Raises:
            InvalidRequestError: A bad option, naming it.
        """
        clone = copy.copy(self)
        clone._owns_http = False  # the pool stays the original's
        if timeout is not None:
            clone.timeout = check_positive("timeout", timeout)
        if poll_interval is not None:
            clone.poll_interval = check_positive("poll_interval", poll_interval)
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
                raise InvalidRequestError(
                    "max_retries", f"must be a whole number >= 0, got {max_retries!r}"
                )
            clone.retry_policy = attrs.evolve(self.retry_policy, max_retries=max_retries)
        return clone

    def __repr__(self) -> str:
        # The token is deliberately absent.
        return f"{type(self).__name__}(base_url={str(self.base_url)!r})"

    # -- operations -------------------------------------------------------------------

    def _submit_flow(
        self,
        prompt: str,
        mode: str,
        image: ImageSource | None,
        image_strength: float | None,
        extra_fields: Mapping[str, JSON] | None = None,
        *,
        deadline: float | None = None,
        on_sending: Callable[[], object] | None = None,
    ) -> Flow[Job]:
        fields, loaded = validate_generate(prompt, mode, image, image_strength, extra_fields)
        payload = (
            json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            if loaded is None
            else None
        )

        def build(timeout: float) -> httpx.Request:
            # An image body is a stream, so each attempt needs a fresh one.
            body = payload if loaded is None else ImageBody(fields, loaded)
            request = self._build(
                self._submit_method,
                self._submit_url,
                timeout,
                headers=self._submit_headers,
                body=body,
            )
            if on_sending is not None:
                # Called by the async driver once the request has passed every gate and
                # is about to be sent (`AsyncSharkAPI.generate(on_sending=...)`).
                request.extensions[ON_SENDING] = on_sending
            return request

        reply = yield from self._request_flow(build, RequestKind.SUBMIT, deadline=deadline)
        try:
            job = parse_job(reply.content, reply.status_code, reply.headers)
        except UnexpectedResponseError as exc:
            # A 2xx means the API took the job: it exists and will be charged.
            exc.message += " (the job was probably created; it was not resubmitted)"
            exc.job_may_exist = True
            raise
        except BaseException as exc:  # Ctrl-C while the 2xx answer was parsed
            record_interrupted_job(exc, None)
            raise
        logger.info("submitted job %s (%s, estimated %s)", job.job_id, mode, job.estimated_cost)
        return job

    def _generate_flow(
        self,
        prompt: str,
        mode: str,
        image: ImageSource | None,
        image_strength: float | None,
        timeout: float,
        on_update: Callable[[JobStatus], object] | None,
        extra_fields: Mapping[str, JSON] | None = None,
        on_sending: Callable[[], object] | None = None,
        on_submitted: Callable[[Job], object] | None = None,
    ) -> Flow[JobStatus]:
        # Everything the wait will check is checked before the job is paid for.
        check_positive("timeout", timeout)
        check_callback("on_update", on_update)
        check_callback("on_sending", on_sending)
        check_callback("on_submitted", on_submitted)
        # One deadline for the whole call: the submit's retries and pauses spend it too.
        deadline = self._clock() + timeout
        job = yield from self._submit_flow(
            prompt,
            mode,
            image,
            image_strength,
            extra_fields,
            deadline=deadline,
            on_sending=on_sending,
        )
        try:
            if on_submitted is not None:
                on_submitted(job)
            return (yield from self._wait_flow(job, timeout, None, on_update, deadline=deadline))
        except SharkAPIError as exc:
            exc.job_id = exc.job_id or job.job_id
            raise
        except BaseException as exc:
            # Ctrl-C, a cancellation or a failing callback: the paid job must not be
            # forgotten.
            record_interrupted_job(exc, job.job_id)
            raise

    def _download_flow(
        self,
        image: JobStatus | str,
        dest: str | os.PathLike[str],
        timeout: float,
        max_bytes: int,
    ) -> Flow[Path]:
        if isinstance(image, JobStatus):
            if not image.image_url and image.status == SUCCESS_STATUS:
                # The API promises an image_url with every complete job: its fault, not
                # the caller's.
                raise UnexpectedResponseError(
                    f"job {image.job_id} is complete but the API gave no image_url",
                    status_code=200,
                    body=body_excerpt(json.dumps(image.raw, default=str).encode()),
                    job_id=image.job_id,
                )
            if not image.image_url:
                raise InvalidRequestError(
                    "image", f"job {image.job_id} has no image_url (status {image.status})"
                )
            url, job_id = image.image_url, image.job_id
        elif isinstance(image, str):
            url, job_id = image, None
        else:
            raise InvalidRequestError(
                "image", f"expected a JobStatus or a URL, got {type(image).__name__}"
            )
        parsed = http_url("image", url)
        if not isinstance(dest, str | os.PathLike):
            raise InvalidRequestError("dest", f"expected a path, got {type(dest).__name__}")
        try:
            # A path the file system cannot take must fail now, not after the download.
            if b"\0" in os.fsencode(dest):
                raise ValueError("NUL character")
        except (UnicodeError, ValueError, TypeError) as exc:
            raise InvalidRequestError("dest", f"not a usable path: {exc}") from exc
        timeout = check_positive("timeout", timeout)
        try:
            destination_for(dest, job_id=job_id, url=url)  # a name too long fails before fetching
        except DownloadError as exc:
            exc.job_id = job_id
            raise
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise InvalidRequestError(
                "max_bytes", f"must be a whole number of bytes >= 1, got {max_bytes!r:.40}"
            )
        deadline = self._clock() + timeout

        def build(attempt_timeout: float) -> httpx.Request:
            # Images are public and may be on a CDN: no token, ever.
            request = self._http.build_request(
                "GET", parsed, headers={"Accept-Encoding": "identity"}, timeout=attempt_timeout
            )
            request.headers.pop("Authorization", None)
            return request

        def sink() -> DownloadSink:  # a fresh temp file per attempt
            return DownloadSink(
                dest,
                job_id=job_id,
                url=url,
                max_bytes=max_bytes,
                deadline=deadline,
                clock=self._clock,
            )

        path: Path = yield from self._request_flow(
            build, RequestKind.READ, job_id=job_id, deadline=deadline, fetch=sink
        )
        logger.info("downloaded %s to %s", job_id or "image", path)
        return path
