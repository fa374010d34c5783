"""`AsyncSharkAPI`, the asyncio client: the I/O half; every decision is in `BaseClient`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from sharkapi_spec import POLL_INTERVAL_SECONDS

from . import _many
from ._admission import Admission
from ._connection import DEFAULT_LIMITS, MAX_CONNECTIONS, USER_AGENT, default_ssl_context
from ._core import ON_SENDING, ON_SENDING_AT_WIRE, BaseClient
from ._deadline import Deadlines, Watch
from ._download import DEFAULT_MAX_DOWNLOAD_BYTES, finish_off_loop
from ._flow import Action, Fetch, Flow, Reply, Send, Sleep, Steps
from ._images import ImageSource
from ._many import GenerateRequest, GenerateResult
from ._models import Job, JobStatus
from ._operations import Operation, call_flow
from ._pool import async_transport
from ._retry import UNSENT_ATTR
from ._spend import SpendCap
from ._validation import DEFAULT_MODE, JSON

__all__ = ["AsyncSharkAPI"]

logger = logging.getLogger("sharkapi")

T = TypeVar("T")


class _SendingProbe:
    """An httpcore trace callback: has this request started to go out on the wire?"""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False

    async def __call__(self, name: str, info: Mapping[str, Any]) -> None:
        # "http11.send_request_headers.started", "http2.send_request_headers.started":
        # from here on, the request may have reached the server.
        if "send_request" in name:
            self.started = True


class AsyncSharkAPI(BaseClient):
    """The asyncio SharkAPI client: `SharkAPI`'s methods as coroutines, plus `generate_many`.

    Takes the same arguments as `SharkAPI`, except that ``http_client`` is an
    ``httpx.AsyncClient`` and ``sleep`` is a coroutine function.

    Raises:
        InvalidRequestError: No token, or a bad option.
    """

    _http: httpx.AsyncClient
    _http_class = httpx.AsyncClient

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        poll_interval: float = POLL_INTERVAL_SECONDS,
        http_client: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        rate_limit: float | None = None,
        pacing: bool = True,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            poll_interval=poll_interval,
            http_client=http_client,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
            rate_limit=rate_limit,
            pacing=pacing,
        )
        self._sleep = sleep
        # A place in the window, then a turn under the learned rate (`_admission`).
        self._admission = Admission(self._pacer, MAX_CONNECTIONS, sleep, clock)
        self._deadlines_of_loop: Deadlines | None = None

    def _default_http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT},
            transport=async_transport(DEFAULT_LIMITS, default_ssl_context()),
        )

    # -- the driver: the only place this class does I/O -------------------------------

    async def _run(self, flow: Flow[T]) -> T:
        steps = Steps(flow)
        try:
            while (action := steps.next()) is not None:
                try:
                    steps.result = await self._perform(action)
                except BaseException as exc:  # the flow decides; it re-raises what it cannot handle
                    steps.throw(exc)
            return steps.value
        finally:
            flow.close()

    async def _perform(self, action: Action) -> Any:
        if isinstance(action, Sleep):
            await self._sleep(action.seconds)
            return None
        self._check_open()
        request = action.request
        deadline = action.deadline
        await self._admission.enter(request, deadline, api_call=isinstance(action, Send))
        sending: _SendingProbe | None = None
        deadlines = self._deadlines()
        watch: Watch | None = None
        # What ended the request, for the window: None while nothing went out.
        accepted: bool | None = None
        throttled = False
        try:
            hook = request.extensions.get(ON_SENDING)
            if hook is not None and (sending := self._hook_at_wire(request)) is not None:
                # The transport calls it as it writes the request's first byte, and
                # marks `sending.started` then: until it has, nothing went out.
                hook = None
            if hook is not None:
                # The caller's last word before this submit goes out (a batch journals
                # its intent here): whatever ends it, nothing was sent.
                try:
                    result = hook()
                    if inspect.isawaitable(result):
                        await result
                except BaseException as exc:
                    with contextlib.suppress(AttributeError):
                        setattr(exc, UNSENT_ATTR, True)
                    raise
            left = max(deadline - self._clock(), 0.001)
            # httpcore's own waits for a pooled connection and for connecting also end
            # by the deadline, as PoolTimeout and ConnectTimeout (never sent).
            timeouts = {**(request.extensions.get("timeout") or {})}
            for phase in ("pool", "connect"):
                limit = timeouts.get(phase)
                timeouts[phase] = left if limit is None or limit > left else limit
            if isinstance(action, Send):
                # An API call's deadline is its attempt's (`_retry._attempt_deadline`), no
                # later than its per-read timeout, and bounds every read and write below:
                # the transport need not arm a timer of its own per chunk. (A download's
                # deadline is the whole call's, so its reads keep their own timeout.)
                timeouts["read"] = timeouts["write"] = None
            request.extensions["timeout"] = timeouts
            if request.method != "GET" and self._owns_http:
                # Only a submit's error depends on whether it was sent; only the SDK's
                # own transport (httpcore) is known to report when sending starts.
                sending = request.extensions["trace"] = _SendingProbe()
            # Unlike the sync client, this one can bound the whole exchange, headers
            # included: a server that trickles its headers never trips a per-read timeout
            # (`_deadline`: asyncio.timeout's rules, one loop timer for every request).
            watch = deadlines.watch(left)
            accepted = False
            result = await self._exchange(action)
            throttled = isinstance(result, Reply) and result.status_code in (429, 503)
            accepted = not throttled
            return result
        except (TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not (watch and watch.timed_out()):
                # A cancellation from outside, not a timeout. The submit flow records a
                # job that may exist unless the request is known not to have gone out.
                if sending is not None and not sending.started:
                    setattr(exc, UNSENT_ATTR, True)
                raise
            if sending is not None and not sending.started:
                # Still waiting for a pooled connection or connecting: nothing went out.
                raise httpx.PoolTimeout(
                    "no connection within the timeout; nothing was sent", request=request
                ) from exc
            raise httpx.ReadTimeout(
                "no complete answer within the timeout", request=request
            ) from exc
        finally:
            if watch is not None:
                deadlines.finish(watch)
            self._admission.leave(accepted, throttled)

    def _deadlines(self) -> Deadlines:
        # One per event loop: a client may be used from one loop after another.
        deadlines = self._deadlines_of_loop
        if deadlines is None or deadlines.loop is not asyncio.get_running_loop():
            deadlines = self._deadlines_of_loop = Deadlines(asyncio.get_running_loop())
        return deadlines

    def _hook_at_wire(self, request: httpx.Request) -> _SendingProbe | None:
        """A probe when the transport calls the request's `ON_SENDING` hook itself, else None.

        The transport sets the probe's ``started`` as it calls the hook, right before
        the request's first byte goes to the socket.
        """
        at_wire = getattr(self._direct_transport(request), "calls_on_sending", False) is True
        probe = _SendingProbe() if at_wire else None
        request.extensions[ON_SENDING_AT_WIRE] = probe
        return probe

    async def _exchange(self, action: Send | Fetch) -> Any:
        response = await self._open(action)
        reader = action.reader(response, self._clock)
        try:
            if reader.start():
                async for chunk in response.aiter_raw():
                    if not reader.feed(chunk):
                        break
            if isinstance(action, Fetch) and reader.sink is action.sink:
                # An image's fsync and rename may take many milliseconds: in a thread.
                return await finish_off_loop(reader.finish, action.sink)
            return reader.finish()
        finally:
            reader.close()
            await response.aclose()

    async def _open(self, action: Send | Fetch) -> httpx.Response:
        request = action.request
        transport = None if isinstance(action, Fetch) else self._direct_transport(request)
        if transport is None:
            # auth=None: the token is set per request by _core, never by a caller's client.
            follow = isinstance(action, Fetch)
            return await self._http.send(request, stream=True, follow_redirects=follow, auth=None)
        try:
            response: httpx.Response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as send does: every error names its request
            raise
        self._received(request, response)
        return response

    # -- the public surface (documented on SharkAPI) ----------------------------------

    async def submit(
        self,
        prompt: str,
        *,
        mode: str = DEFAULT_MODE,
        image: ImageSource | None = None,
        image_strength: float | None = None,
        extra_fields: Mapping[str, JSON] | None = None,
    ) -> Job:
        """Submit a generation job; see `SharkAPI.submit` for the arguments.

        Returns:
            The new `Job`.

        Raises:
            InvalidRequestError: A bad argument; nothing was sent.
            SubmissionOutcomeUnknownError: The submit may have created a job; not resubmitted.
            APIStatusError: The API refused (402 balance, 422 moderation, ...).
            APIConnectionError: No job was created: the API could not be reached.
            UnexpectedResponseError: A 2xx answer that does not parse.
        """
        return await self._run(self._submit_flow(prompt, mode, image, image_strength, extra_fields))

    async def get_job(self, job_id: str | Job | JobStatus) -> JobStatus:
        """Fetch a job's current `JobStatus`; see `SharkAPI.get_job`.

        Args:
            job_id: A job id, or a `Job` or `JobStatus`.

        Returns:
            The job's status now.

        Raises:
            InvalidRequestError: Not a valid job id; nothing was sent.
            NotFoundError: The API does not know the job.
            APIStatusError: Another refusal, or 429/5xx after the retries.
            APIConnectionError: The API could not be reached after the retries.
            UnexpectedResponseError: The answer does not parse.
        """
        return await self._run(self._get_job_flow(job_id))

    async def wait(
        self,
        job: Job | JobStatus | str,
        *,
        timeout: float = 600.0,
        poll_interval: float | None = None,
        on_update: Callable[[JobStatus], object] | None = None,
    ) -> JobStatus:
        """Poll a job until it finishes; see `SharkAPI.wait` for the arguments.

        Returns:
            The finished `JobStatus` (status ``complete``).

        Raises:
            InvalidRequestError: A bad argument; nothing was sent.
            JobFailedError: The job failed (not charged).
            JobModeratedError: The job was moderated (not charged).
            WaitTimeoutError: The deadline passed first; the job may still finish.
            APIStatusError: A refusal no retry can change (401, 403, 404).
            UnexpectedResponseError: An answer that does not parse.
        """
        return await self._run(self._wait_flow(job, timeout, poll_interval, on_update))

    async def generate(
        self,
        prompt: str,
        *,
        mode: str = DEFAULT_MODE,
        image: ImageSource | None = None,
        image_strength: float | None = None,
        extra_fields: Mapping[str, JSON] | None = None,
        timeout: float = 600.0,
        on_update: Callable[[JobStatus], object] | None = None,
        on_sending: Callable[[], object] | None = None,
        on_submitted: Callable[[Job], object] | None = None,
    ) -> JobStatus:
        """Submit a job and wait for it; see `SharkAPI.generate` for the arguments.

        Two hooks serve callers that keep a durable record of their jobs (a journal):
        ``on_sending`` is called (and awaited, if it returns an awaitable) each time the
        submit has passed the client's gates and is about to be sent, so a record made
        there never names a request that was still queued; ``on_submitted`` is called
        with the `Job` as soon as the submit is answered, before the wait begins.

        Returns:
            The finished `JobStatus` (status ``complete``).

        Raises:
            InvalidRequestError: A bad argument; nothing was sent.
            SubmissionOutcomeUnknownError: The submit may have created a job; not resubmitted.
            JobFailedError: The job failed (not charged).
            JobModeratedError: The job was moderated (not charged).
            WaitTimeoutError: The deadline passed first; resume with `wait(err.job_id)`.
            APIStatusError: The API refused the submit or a poll.
            APIConnectionError: The API could not be reached.
            UnexpectedResponseError: An answer that does not parse.
        """
        return await self._run(
            self._generate_flow(
                prompt,
                mode,
                image,
                image_strength,
                timeout,
                on_update,
                extra_fields,
                on_sending,
                on_submitted,
            )
        )

    async def generate_many(
        self,
        requests: Iterable[GenerateRequest],
        *,
        concurrency: int = 8,
        mode: str = DEFAULT_MODE,
        timeout: float = 600.0,
        on_update: Callable[[JobStatus], object] | None = None,
        max_cost: Decimal | None = None,
    ) -> list[JobStatus | BaseException]:
        """Run many generations at once; one result per request, in order.

        A list in, a list out: for inputs too big to hold, use `iter_generate`, which
        this runs on.

        Args:
            requests: Each a prompt, or a mapping of `submit`'s keyword arguments
                (``prompt``, ``mode``, ``image``, ``image_strength``, ``extra_fields``)
                plus ``timeout``; any other request field the spec declares may be
                given directly too (it is sent as an extra field).
            concurrency: How many run at the same time.
            mode: The mode of requests that do not name one (default: the cheapest).
            timeout: Each job's wait deadline, unless its mapping gives one.
            on_update: Called with each job's `JobStatus` on every status change.
            max_cost: A spend cap in dollars: submits that could take the worst-case
                spend past it are not sent (their result is `SpendCapExceededError`).

        Returns:
            For each request, its finished `JobStatus` or the exception that ended it
            (which names the job id when a job was created). One failure never cancels
            the others.

        Raises:
            InvalidRequestError: ``requests`` is not a list of requests, or
                ``concurrency`` is not a whole number >= 1. A bad item is returned as
                its result instead.
        """
        return await _many.generate_many(
            self,
            requests,
            concurrency=concurrency,
            mode=mode,
            timeout=timeout,
            on_update=on_update,
            max_cost=max_cost,
        )

    def iter_generate(
        self,
        requests: Iterable[GenerateRequest] | AsyncIterable[GenerateRequest],
        *,
        concurrency: int = 8,
        mode: str = DEFAULT_MODE,
        timeout: float = 600.0,
        on_update: Callable[[JobStatus], object] | None = None,
        max_cost: Decimal | None = None,
        spend_cap: SpendCap | None = None,
    ) -> AsyncIterator[GenerateResult]:
        """Run many generations, yielding each result as it finishes.

        ``requests`` is read lazily, at most ``concurrency`` ahead of the results, so a
        generator over a million-line file runs in memory that does not grow with it.
        Items follow `generate_many`'s rules; a bad item's result is its
        `InvalidRequestError`. Every request goes through the client's pacing gate: at
        the API's rate limit, requests wait their turn instead of failing.

        If the loop stops early (``break``, an exception, a cancellation), the jobs still
        running are cancelled; each that may have been created is named on the
        exception that propagates (a note, the ``sharkapi`` logger, and the attribute
        ``sharkapi_jobs``: a list of ``(index, JobOutcome)``). Close the iterator when
        leaving it early (``contextlib.aclosing``), so that happens at once.

        Args:
            requests: Prompts or mappings, as for `generate_many`; any iterable or async
                iterable.
            concurrency: How many run at the same time.
            mode: The mode of requests that do not name one.
            timeout: Each job's deadline, unless its mapping gives one.
            on_update: Called with each job's `JobStatus` on every status change.
            max_cost: A spend cap in dollars for this run (see `SpendCap`).
            spend_cap: A `SpendCap` to count against instead (shared between runs).

        Yields:
            `GenerateResult(index, request, result)`, in the order they finish; ``result``
            is the finished `JobStatus` or the exception that ended that request.

        Raises:
            InvalidRequestError: Bad ``requests``, ``concurrency`` or ``max_cost``.
        """
        return _many.iter_generate(
            self,
            requests,
            concurrency=concurrency,
            mode=mode,
            timeout=timeout,
            on_update=on_update,
            max_cost=max_cost,
            spend_cap=spend_cap,
        )

    async def download(
        self,
        image: JobStatus | str,
        dest: str | os.PathLike[str] = ".",
        *,
        timeout: float = 300.0,
        max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> Path:
        """Save a finished job's image; see `SharkAPI.download` for the arguments.

        Returns:
            The path of the file written.

        Raises:
            InvalidRequestError: A bad argument (a job without an image, an unusable path).
            DownloadError: The image could not be fetched, is too large, is not an image,
                or cannot be written; no partial file is left.
            UnexpectedResponseError: A complete job without an ``image_url``.
        """
        return await self._run(self._download_flow(image, dest, timeout, max_bytes))

    async def call(self, operation: Operation, /, **kwargs: Any) -> Any:
        """Run any generated operation through this client; see `SharkAPI.call`.

        Returns:
            What the generated operation parses from the 2xx answer.

        Raises:
            InvalidRequestError: Unknown operation or arguments; nothing was sent.
            APIStatusError: The API answered with an error status.
            APIConnectionError: The API could not be reached after the retries.
            UnexpectedResponseError: A 2xx answer the generated parser cannot read.
        """
        return await self._run(call_flow(self, operation, kwargs))

    async def aclose(self) -> None:
        """Close the HTTP connections, unless the client was given by the caller.

        Every later call raises `ClientClosedError` before sending anything.
        """
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
