"""Everything the sync and async clients share; nothing here does I/O.

Configuration, validation, request building, retries, polling and parsing all live
here.

Each operation is written once, as a generator (a "flow") that yields what it needs
done, `Send`, `Fetch` or `Sleep`, and receives the result. `SharkAPI` and
`AsyncSharkAPI` each hold only a small driver that performs those actions, with or
without `await`. So the retry and polling rules cannot drift apart between the twins.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import zlib
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar

import httpx
from sharkapi_client.api.generation import generate_image as _generate_op
from sharkapi_client.api.generation import get_job as _get_job_op
from sharkapi_client.models import GenerateRequest, Mode
from sharkapi_spec import DEFAULT_MODE, SUCCESS_STATUS

from ._decoding import ACCEPT_ENCODING, BodyDecoder, UnsupportedEncoding
from ._download import DownloadSink, destination_for, shown_url
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    DownloadError,
    InvalidRequestError,
    JobFailedError,
    JobModeratedError,
    Redactor,
    SharkAPIError,
    SubmissionOutcomeUnknownError,
    UnexpectedResponseError,
    WaitTimeoutError,
    body_excerpt,
    describe,
    make_status_error,
)
from ._images import ImageBody, ImageSource
from ._models import JOB_ID_PATTERN, Job, JobStatus, parse_job, parse_job_status
from ._retry import NEVER_SENT, RequestKind, RetryPolicy, parse_retry_after
from ._validation import JSON, validate_generate
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "BaseClient"]

T = TypeVar("T")

logger = logging.getLogger("sharkapi")

DEFAULT_BASE_URL: Final = "https://api.sharkapi.dev"
# A JSON answer of the API is a few hundred bytes; a hostile server must not be able
# to make the client buffer more than this.
MAX_ANSWER_BYTES: Final = 1024 * 1024
USER_AGENT: Final = f"sharkapi-python/{__version__}"
# The SDK's own httpx pool. The async client also lets no more requests than
# MAX_CONNECTIONS wait on the pool at once: httpcore matches every queued request
# against every connection on each release, which grows with the square of the queue
# (1,000 concurrent polls then starve). Every connection may stay alive: with fewer
# kept alive than in use, httpcore 1.0.x closes each released one, so a steady load
# opened a new connection (and TLS handshake) per request (scripts/bench, section 2).
# The async client's pool (`_pool.KeepAlivePool`) keeps that cheap in CPU too.
MAX_CONNECTIONS: Final = 100
DEFAULT_LIMITS: Final = httpx.Limits(
    max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
)
# An image host's error page is only kept as an excerpt.
MAX_DOWNLOAD_ERROR_BYTES: Final = 4096
# The two unsuccessful endings the SDK has its own error classes for (`JobModeratedError`,
# `JobFailedError`); any other terminal status is a `JobFailedError` that names it.
_MODERATED: Final = "moderated"
_FAILED: Final = "failed"
# Parsed job URLs kept for reuse by later polls (a few concurrent waits' worth).
_URL_CACHE_SIZE: Final = 4096


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


class _OutOfTime(Exception):
    """Internal: a wait's deadline left no time to retry `error`."""

    def __init__(self, error: SharkAPIError) -> None:
        super().__init__(str(error))
        self.error = error


def _resolve_token(token: str | None) -> str:
    if token is None:
        token = os.environ.get("SHARKAPI_TOKEN")
    if token is None or token == "":
        raise InvalidRequestError(
            "token", "no API token: pass token=... or set the SHARKAPI_TOKEN environment variable"
        )
    if not isinstance(token, str):
        raise InvalidRequestError("token", f"must be a string, got {type(token).__name__}")
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        # Never echo the value: it is a secret, even when malformed.
        raise InvalidRequestError("token", "must be printable ASCII with no spaces")
    return token


def _is_loopback(host: str) -> bool:
    # Only the literal name: "*.localhost" is resolved through DNS on many systems, and
    # plain http would then trust that resolver with the token.
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _resolve_base_url(base_url: str | None, allow_insecure_http: bool) -> httpx.URL:
    if base_url is not None and not isinstance(base_url, str):
        raise InvalidRequestError("base_url", f"must be a string, got {type(base_url).__name__}")
    text = base_url or os.environ.get("SHARKAPI_BASE_URL") or DEFAULT_BASE_URL
    url = _http_url("base_url", text)
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise InvalidRequestError(
            "base_url",
            f"plain http to {url.host} would send the token in clear; use https, "
            "or pass allow_insecure_http=True",
        )
    return url.copy_with(raw_path=url.raw_path.rstrip(b"/") or b"", query=None, fragment=None)


def _http_url(field: str, text: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:  # ValueError: unencodable text
        raise InvalidRequestError(field, f"not a URL: {text[:200]!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequestError(field, f"must be an http(s) URL with a host, got {text[:200]!r}")
    return url


def _positive(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidRequestError(name, f"must be a positive number of seconds, got {value!r}")
    return float(value)


def _callback(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise InvalidRequestError(name, f"must be a function or None, got {type(value).__name__}")


def _job_id_of(job: object) -> str:
    job_id = job.job_id if isinstance(job, Job | JobStatus) else job
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        shown = job_id[:60] if isinstance(job_id, str) else type(job_id).__name__
        raise InvalidRequestError(
            "job_id", f"must be 1 to 128 letters, digits, '_' or '-', got {shown!r}"
        )
    return job_id


class BaseClient:
    """Configuration and every flow; subclasses add only the I/O driver."""

    _http: httpx.Client | httpx.AsyncClient
    #: The httpx client class the twin sends through (and makes when none is given).
    _http_class: type[httpx.Client] | type[httpx.AsyncClient]

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
    ) -> None:
        if http_client is not None and not isinstance(http_client, self._http_class):
            raise InvalidRequestError(
                "http_client", f"must be an httpx.{self._http_class.__name__}"
            )
        self.base_url = _resolve_base_url(base_url, allow_insecure_http)
        self._base = str(self.base_url)
        self._url_cache: dict[str, httpx.URL] = {}
        secret = _resolve_token(token)
        # What a server echoes of the token is cut out of every answer before it is kept.
        self._redactor = Redactor(secret)
        # Only the encodings BodyDecoder undoes with a bound (a caller's client may ask
        # for more); the token goes on API requests only.
        self._auth = {"Authorization": f"Bearer {secret}", "Accept-Encoding": ACCEPT_ENCODING}
        self.timeout = _positive("timeout", timeout)
        self.poll_interval = _positive("poll_interval", poll_interval)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError(
                "max_retries", f"must be a whole number >= 0, got {max_retries!r}"
            )
        self.retry_policy = RetryPolicy(max_retries=max_retries)
        self._clock = clock
        # The generated operations own the API's paths and methods (openapi.yaml is the
        # source of truth); the SDK sends their requests through its own retry loop.
        generate = _generate_op._get_kwargs(
            body=GenerateRequest(prompt="", mode=Mode(DEFAULT_MODE))
        )
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
        return self._http_class(headers={"User-Agent": USER_AGENT}, limits=DEFAULT_LIMITS)

    def __repr__(self) -> str:
        # The token is deliberately absent.
        return f"{type(self).__name__}(base_url={str(self.base_url)!r})"

    # -- requests ---------------------------------------------------------------------

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
        The caller's default headers, cookies and query parameters still apply.
        """
        http = self._http
        merged = http.headers.copy()
        merged.update(headers or self._auth)
        stream = body if isinstance(body, ImageBody) else None
        request = httpx.Request(
            method,
            self._parsed_url(url),
            params=http.params or None,
            headers=merged,
            cookies=http.cookies or None,
            content=None if stream is not None else body,
            stream=stream,
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        if stream is not None:
            # httpx adds these itself only for bodies it encodes.
            request.headers.setdefault("Host", request.url.netloc.decode("ascii"))
            request.headers["Content-Length"] = str(stream.content_length)
        return request

    def _parsed_url(self, url: str) -> httpx.URL:
        # Parsing a URL is a tenth of a poll's cost, and a wait polls one URL many times.
        parsed = self._url_cache.get(url)
        if parsed is None:
            if len(self._url_cache) >= _URL_CACHE_SIZE:
                self._url_cache.clear()
            parsed = self._url_cache[url] = httpx.URL(url)
        return parsed

    def _attempt_deadline(self, deadline: float | None) -> tuple[float, float]:
        now = self._clock()
        end = now + self.timeout if deadline is None else min(now + self.timeout, deadline)
        return end, max(end - now, 0.001)

    def _request_flow(
        self,
        build: Callable[[float], httpx.Request],
        kind: RequestKind,
        *,
        job_id: str | None = None,
        deadline: float | None = None,
        until_deadline: bool = False,
        fetch: Callable[[], DownloadSink] | None = None,
    ) -> Flow[Any]:
        """Send one request with the retry rules (see `_retry`).

        Returns the 2xx `Reply` (or the downloaded Path).

        A `deadline` is the calling method's own (`wait`, `download`, `generate`): every
        attempt and every pause between attempts ends by it. A pause longer than the
        time left is cut to the time left, and the last error is raised at the deadline,
        never earlier. With `until_deadline` (inside `wait`), transient failures are
        retried until that deadline rather than `max_retries` times, because a failed
        poll only means no news; running out of time then raises `_OutOfTime`.
        """
        policy = self.retry_policy
        retries_taken = 0
        while True:
            attempt_end, attempt_timeout = self._attempt_deadline(deadline)
            request = build(attempt_timeout)
            cause: httpx.HTTPError | None = None
            retry_after: float | None = None
            try:
                if fetch is None:
                    result = yield Send(request, attempt_end)
                else:
                    result = yield Fetch(request, fetch())
            except httpx.HTTPError as exc:
                cause = exc
                error: SharkAPIError = self._connection_error(exc, kind, job_id)
                retryable = policy.should_retry_exception(exc, kind)
            else:
                if not isinstance(result, Reply):
                    return result  # a finished download
                result = self._redact(result)
                status = result.status_code
                if 200 <= status < 300:
                    if result.truncated:
                        raise UnexpectedResponseError(
                            f"HTTP {status} answer is over {MAX_ANSWER_BYTES} bytes",
                            status_code=status,
                            body=body_excerpt(result.content),
                            job_id=job_id,
                        )
                    return result
                if status < 400:
                    location = result.headers.get("location", "")[:200]
                    raise UnexpectedResponseError(
                        f"HTTP {status} redirect to {location!r} not followed: the API "
                        "does not redirect, and the token must not follow one",
                        status_code=status,
                        body=body_excerpt(result.content),
                        job_id=job_id,
                    )
                retry_after = parse_retry_after(result.headers.get("retry-after"))
                error = make_status_error(
                    status,
                    result.headers,
                    result.content,
                    retry_after=retry_after,
                    job_id=job_id,
                    after_submit=kind is RequestKind.SUBMIT,
                )
                retry_after = getattr(error, "retry_after", None)
                retryable = policy.should_retry_status(status, kind)
                if fetch is not None:
                    # An image host's 403 or 404 is an expired or missing link, not a
                    # revoked token or an unknown job: it gets its own class.
                    error = DownloadError(
                        f"download of {shown_url(request.url)}: {error.message}",
                        status_code=status,
                        job_id=job_id,
                    )
            if not retryable or (not until_deadline and retries_taken >= policy.max_retries):
                raise error from cause
            pause = policy.backoff(retries_taken, retry_after)
            if pause > policy.max_retry_after:
                error.message += (
                    f" (Retry-After {pause:.0f} s is beyond the"
                    f" {policy.max_retry_after:.0f} s this client waits)"
                )
                raise error from cause
            if deadline is not None:
                left = deadline - self._clock()
                if pause >= left:
                    # Never give up while time remains: wait out what is left (the
                    # server asked for at least that), then report at the deadline.
                    if left > 0:
                        yield Sleep(left)
                    if until_deadline:
                        raise _OutOfTime(error) from cause
                    error.message += " (no time left to retry within the call's timeout)"
                    raise error from cause
            logger.info(
                "%s %s failed (%s); retry %d in %.2f s",
                request.method,
                request.url.path,
                error,
                retries_taken + 1,
                pause,
            )
            yield Sleep(pause)
            retries_taken += 1

    def _redact(self, reply: Reply) -> Reply:
        # Before anything of the answer is parsed, logged or put in an exception.
        redactor = self._redactor
        content = redactor.content(reply.content)
        headers = redactor.headers(reply.headers)
        if content is reply.content and headers is reply.headers:
            return reply
        return reply._replace(content=content, headers=headers)

    def _connection_error(
        self, exc: httpx.HTTPError, kind: RequestKind, job_id: str | None
    ) -> SharkAPIError:
        # A protocol error can quote what the server sent: that may echo the token.
        what = self._redactor.text(describe(exc))
        if kind is RequestKind.SUBMIT and not isinstance(exc, NEVER_SENT):
            return SubmissionOutcomeUnknownError(
                f"the submit broke after it may have reached the API ({what}); a job may "
                "exist and be charged when it completes, so it was NOT resubmitted",
                job_id=job_id,
            )
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"no answer in time ({what})", job_id=job_id)
        if isinstance(exc, httpx.DecodingError):
            return APIConnectionError(f"the answer could not be decoded ({what})", job_id=job_id)
        return APIConnectionError(f"connection failed ({what})", job_id=job_id)

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
            return self._build(
                self._submit_method,
                self._submit_url,
                timeout,
                headers=self._submit_headers,
                body=body,
            )

        reply = yield from self._request_flow(build, RequestKind.SUBMIT, deadline=deadline)
        try:
            job = parse_job(reply.content, reply.status_code)
        except UnexpectedResponseError as exc:
            # A 2xx means the API took the job: it exists and will be charged.
            exc.message += " (the job was probably created; it was not resubmitted)"
            raise
        logger.info("submitted job %s (%s, estimated %s)", job.job_id, mode, job.estimated_cost)
        return job

    def _get_job_flow(self, job: object, deadline: float | None = None) -> Flow[JobStatus]:
        job_id = _job_id_of(job)
        # Job ids are checked against the spec's pattern, so they need no quoting.
        url = self._job_url_prefix + job_id

        def build(timeout: float) -> httpx.Request:
            return self._build("GET", url, timeout)

        reply = yield from self._request_flow(
            build,
            RequestKind.READ,
            job_id=job_id,
            deadline=deadline,
            until_deadline=deadline is not None,  # only inside `wait`
        )
        try:
            status = parse_job_status(reply.content, reply.status_code)
        except UnexpectedResponseError as exc:
            # The body may not say which job it is about; the caller asked about this one.
            exc.job_id = exc.job_id or job_id
            raise
        if status.job_id != job_id:
            raise UnexpectedResponseError(
                f"asked for job {job_id}, the API answered about job {status.job_id}",
                status_code=reply.status_code,
                body=body_excerpt(reply.content),
                job_id=job_id,
            )
        return status

    def _wait_flow(
        self,
        job: Job | JobStatus | str,
        timeout: float,
        poll_interval: float | None,
        on_update: Callable[[JobStatus], object] | None,
        *,
        deadline: float | None = None,
    ) -> Flow[JobStatus]:
        job_id = _job_id_of(job)
        timeout = _positive("timeout", timeout)
        _callback("on_update", on_update)
        interval = (
            self.poll_interval
            if poll_interval is None
            else _positive("poll_interval", poll_interval)
        )
        if deadline is None:
            deadline = self._clock() + timeout
        last: JobStatus | None = job if isinstance(job, JobStatus) else None
        # A job just submitted has no news yet: the first poll waits one interval.
        pause_first = isinstance(job, Job)
        while True:
            if last is not None and last.is_terminal:
                return _finish(last)
            if pause_first or last is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise _timed_out(job_id, timeout, last)
                yield Sleep(min(interval, remaining))
            pause_first = False
            if self._clock() >= deadline:
                raise _timed_out(job_id, timeout, last)
            try:
                status = yield from self._get_job_flow(job_id, deadline)
            except _OutOfTime as out:
                raise _timed_out(job_id, timeout, last) from out.error
            if last is None or status.status != last.status:
                logger.debug("job %s is %s", job_id, status.status)
                if on_update is not None:
                    on_update(status)
            last = status

    def _generate_flow(
        self,
        prompt: str,
        mode: str,
        image: ImageSource | None,
        image_strength: float | None,
        timeout: float,
        on_update: Callable[[JobStatus], object] | None,
        extra_fields: Mapping[str, JSON] | None = None,
    ) -> Flow[JobStatus]:
        # Everything the wait will check is checked before the job is paid for.
        _positive("timeout", timeout)
        _callback("on_update", on_update)
        # One deadline for the whole call: the submit's retries and pauses spend it too.
        deadline = self._clock() + timeout
        job = yield from self._submit_flow(
            prompt, mode, image, image_strength, extra_fields, deadline=deadline
        )
        try:
            return (yield from self._wait_flow(job, timeout, None, on_update, deadline=deadline))
        except SharkAPIError as exc:
            exc.job_id = exc.job_id or job.job_id
            raise
        except BaseException as exc:
            # Ctrl-C or a failing callback: the paid job must not be forgotten.
            exc.add_note(
                f"SharkAPI job {job.job_id} was submitted; resume with wait({job.job_id!r})"
            )
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
        parsed = _http_url("image", url)
        if not isinstance(dest, str | os.PathLike):
            raise InvalidRequestError("dest", f"expected a path, got {type(dest).__name__}")
        try:
            # A path the file system cannot take must fail now, not after the download.
            if b"\0" in os.fsencode(dest):
                raise ValueError("NUL character")
        except (UnicodeError, ValueError, TypeError) as exc:
            raise InvalidRequestError("dest", f"not a usable path: {exc}") from exc
        timeout = _positive("timeout", timeout)
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


def _finish(status: JobStatus) -> JobStatus:
    """The job's result once it is terminal: its status on success, else a `JobError`.

    Any terminal status the spec adds later (say ``cancelled``) ends the wait at once
    as a `JobFailedError` naming that status.
    """
    if status.status == SUCCESS_STATUS:
        return status
    detail = status.error_message or status.error_code or "no reason given"
    if status.status == _MODERATED:
        raise JobModeratedError(f"job {status.job_id} was moderated: {detail}", status=status)
    if status.status == _FAILED:
        raise JobFailedError(f"job {status.job_id} failed: {detail}", status=status)
    raise JobFailedError(
        f"job {status.job_id} ended with status {status.status!r}: {detail}", status=status
    )


def _timed_out(job_id: str, timeout: float, last: JobStatus | None) -> WaitTimeoutError:
    seen = last.status if last is not None else "no answer yet"
    return WaitTimeoutError(
        f"job {job_id} did not finish within {timeout:g} s (last status: {seen}); it may still "
        f"finish: resume with wait({job_id!r})",
        job_id=job_id,
        last_status=last,
    )
