"""`SharkAPI`, the synchronous client: the I/O half; every decision is in `BaseClient`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from sharkapi_spec import POLL_INTERVAL_SECONDS

from ._core import BaseClient
from ._download import DEFAULT_MAX_DOWNLOAD_BYTES
from ._flow import Action, Fetch, Flow, Send, Sleep, Steps
from ._images import ImageSource
from ._models import Job, JobStatus
from ._operations import Operation, call_flow
from ._validation import DEFAULT_MODE, JSON

__all__ = ["SharkAPI"]

T = TypeVar("T")


class SharkAPI(BaseClient):
    """The synchronous SharkAPI client.

    Args:
        token: The bearer token; defaults to the ``SHARKAPI_TOKEN`` environment variable.
        base_url: The API's URL; defaults to ``SHARKAPI_BASE_URL``, then
            ``https://api.sharkapi.dev``. Plain http is refused unless the host is
            loopback or ``allow_insecure_http`` is set.
        timeout: Seconds one request may take, from sending to the last byte of the answer.
        max_retries: Retries of one call after transient failures (0: none): connection
            errors, timeouts, 429 and 5xx for reads; for a submit, only failures that
            prove no job was created (refused connection, 429, 503). A submit is never
            retried once it may have created a job. The README's "Retries and polling"
            has the table.
        poll_interval: Seconds from the start of one poll in `wait` to the next (the
            time an answer takes counts; at least a quarter of it between polls).
            Default: the spec's ``POLL_INTERVAL_SECONDS``.
        http_client: An ``httpx.Client`` to send through (proxies, transports, hooks).
            The SDK still applies its own URL, token, timeouts and retries, and never
            closes a client it was given.
        allow_insecure_http: Allow a plain ``http://`` base URL to a non-loopback host.
        rate_limit: Requests a second this client may send to the API, when you know
            your account's limit. Without it the client learns the limit: every 429 or
            503 slows all its requests (a ``Retry-After`` pauses them all), and the rate
            climbs back while no throttle comes. Image downloads are not counted.
        pacing: False turns the learning off: each request then meets its own 429s
            with the retry rules alone (for callers with a limiter of their own);
            ``rate_limit`` still holds.
        sleep: How to wait (injectable so tests never really sleep).
        clock: A monotonic clock in seconds (injectable, with ``sleep``).

    Raises:
        InvalidRequestError: No token, or a bad option.
    """

    _http: httpx.Client
    _http_class = httpx.Client

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        poll_interval: float = POLL_INTERVAL_SECONDS,
        http_client: httpx.Client | None = None,
        allow_insecure_http: bool = False,
        rate_limit: float | None = None,
        pacing: bool = True,
        sleep: Callable[[float], object] = time.sleep,
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

    # -- the driver: the only place this class does I/O -------------------------------

    def _run(self, flow: Flow[T]) -> T:
        steps = Steps(flow)
        try:
            while (action := steps.next()) is not None:
                try:
                    steps.result = self._perform(action)
                except BaseException as exc:  # the flow decides; it re-raises what it cannot handle
                    steps.throw(exc)
            return steps.value
        finally:
            flow.close()

    def _perform(self, action: Action) -> Any:
        if isinstance(action, Sleep):
            self._sleep(action.seconds)
            return None
        self._check_open()
        response = self._open(action)
        reader = action.reader(response, self._clock)
        try:
            if reader.start():
                for chunk in response.iter_raw():
                    if not reader.feed(chunk):
                        break
            return reader.finish()
        finally:
            reader.close()
            response.close()

    def _open(self, action: Send | Fetch) -> httpx.Response:
        request = action.request
        transport = None if isinstance(action, Fetch) else self._direct_transport(request)
        if transport is None:
            # auth=None: the token is set per request by _core, never by a caller's client.
            follow = isinstance(action, Fetch)
            return self._http.send(request, stream=True, follow_redirects=follow, auth=None)
        try:
            response: httpx.Response = transport.handle_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as send does: every error names its request
            raise
        self._received(request, response)
        return response

    # -- the public surface -----------------------------------------------------------

    def submit(
        self,
        prompt: str,
        *,
        mode: str = DEFAULT_MODE,
        image: ImageSource | None = None,
        image_strength: float | None = None,
        extra_fields: Mapping[str, JSON] | None = None,
    ) -> Job:
        """Submit a generation job; returns at once with its `Job`.

        Every limit is the spec's (``sharkapi_spec``, generated from openapi.yaml).

        Args:
            prompt: What to draw, ``PROMPT_MIN_LENGTH`` to ``PROMPT_MAX_LENGTH`` characters.
            mode: One of ``sharkapi_spec.MODES`` (prices in ``MODE_PRICES``, sizes in
                ``MODE_SIZES``); default ``DEFAULT_MODE``, the cheapest.
            image: A PNG or JPEG source for image-to-image: bytes, a path or a binary file
                object, at most ``IMAGE_MAX_BYTES``.
            image_strength: ``IMAGE_STRENGTH_MIN`` to ``IMAGE_STRENGTH_MAX``, how much the
                source shapes the output (server default ``IMAGE_STRENGTH_DEFAULT``; not
                sent unless given). Needs ``image``.
            extra_fields: Request fields the spec declares that have no keyword here yet
                (added by a later API release), as JSON values. Checked against the
                spec's ``GenerateRequest`` schema before anything is sent.

        Returns:
            The new `Job` (status ``queued``, with its id and estimated cost).

        Raises:
            InvalidRequestError: A bad argument; nothing was sent.
            SubmissionOutcomeUnknownError: The request broke after it may have created a
                job; it is not resubmitted.
            APIStatusError: The API refused (402 balance, 422 moderation, ...).
            APIConnectionError: No job was created: the API could not be reached.
            UnexpectedResponseError: A 2xx answer that does not parse; the job was
                probably created (``job_id`` is set when it could be read).
        """
        return self._run(self._submit_flow(prompt, mode, image, image_strength, extra_fields))

    def get_job(self, job_id: str | Job | JobStatus) -> JobStatus:
        """Fetch a job's current `JobStatus` (one poll, with retries).

        Args:
            job_id: A job id, or a `Job` or `JobStatus`.

        Returns:
            The job's status as the API reports it now (unknown statuses included).

        Raises:
            InvalidRequestError: Not a valid job id; nothing was sent.
            NotFoundError: The API does not know the job (or it is another account's).
            APIStatusError: Another refusal (401, 403, ...), or 429/5xx after the retries.
            APIConnectionError: The API could not be reached after the retries.
            UnexpectedResponseError: The answer does not parse.
        """
        return self._run(self._get_job_flow(job_id))

    def wait(
        self,
        job: Job | JobStatus | str,
        *,
        timeout: float = 600.0,
        poll_interval: float | None = None,
        on_update: Callable[[JobStatus], object] | None = None,
    ) -> JobStatus:
        """Poll a job until it finishes; resumes any job by id, without resubmitting.

        Args:
            job: A `Job`, a `JobStatus` or a job id.
            timeout: One deadline, in seconds, for the whole wait: every poll and retry.
            poll_interval: Seconds between polls (default: the client's).
            on_update: Called with the first `JobStatus` polled, then each time the status
                changes.

        Returns:
            The finished `JobStatus` (status ``complete``).

        Raises:
            InvalidRequestError: A bad argument; nothing was sent.
            JobFailedError: The job failed, or ended with another terminal status the
                spec lists (``sharkapi_spec.TERMINAL_STATUSES``) (not charged).
            JobModeratedError: The job was moderated (not charged).
            WaitTimeoutError: The deadline passed first; the job may still finish.
            APIStatusError: A refusal no retry can change (401, 403, 404).
            UnexpectedResponseError: An answer that does not parse.
        """
        return self._run(self._wait_flow(job, timeout, poll_interval, on_update))

    def generate(
        self,
        prompt: str,
        *,
        mode: str = DEFAULT_MODE,
        image: ImageSource | None = None,
        image_strength: float | None = None,
        extra_fields: Mapping[str, JSON] | None = None,
        timeout: float = 600.0,
        on_update: Callable[[JobStatus], object] | None = None,
    ) -> JobStatus:
        """Submit a job and wait for it: `submit` then `wait`. Errors name the job id.

        Everything `wait` checks is checked before the job is submitted (and paid for).
        ``timeout`` is one deadline for both: the submit's retries and pauses spend it too.

        Args:
            prompt: What to draw; see `submit`.
            mode: The mode (default: the cheapest); see `submit`.
            image: A source image for image-to-image; see `submit`.
            image_strength: The source's weight; see `submit`.
            extra_fields: More spec request fields; see `submit`.
            timeout: The wait's deadline in seconds; see `wait`.
            on_update: Called as the status changes; see `wait`.

        Returns:
            The finished `JobStatus` (status ``complete``).

        Raises:
            InvalidRequestError: A bad argument; nothing was sent.
            SubmissionOutcomeUnknownError: The submit may have created a job; not resubmitted.
            JobFailedError: The job failed (not charged).
            JobModeratedError: The job was moderated (not charged).
            WaitTimeoutError: The deadline passed first; resume with `wait(err.job_id)`.
            APIStatusError: The API refused the submit or a poll.
            APIConnectionError: The API could not be reached (before any job was created,
                or while polling: then ``job_id`` is set).
            UnexpectedResponseError: An answer that does not parse.
        """
        return self._run(
            self._generate_flow(
                prompt, mode, image, image_strength, timeout, on_update, extra_fields
            )
        )

    def download(
        self,
        image: JobStatus | str,
        dest: str | os.PathLike[str] = ".",
        *,
        timeout: float = 300.0,
        max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> Path:
        """Save a finished job's image (or an image URL) and return the file's path.

        The token is never sent. A directory destination gets ``<job_id>.png`` (or
        ``.jpg``); the name never comes from the server. A file destination whose
        extension names the other image kind gets the right one (``out.png`` receiving
        a JPEG becomes ``out.jpg``). The file appears only once complete and checked,
        with the mode the umask gives. ``timeout`` bounds every attempt and retry.

        Args:
            image: A finished `JobStatus`, or an image URL.
            dest: A file path, or a directory (existing, or ending with a separator).
            timeout: Seconds for the whole download, retries included.
            max_bytes: The most bytes accepted.

        Returns:
            The path the image was saved to.

        Raises:
            InvalidRequestError: A bad argument (a job without an image, an unusable path).
            DownloadError: The image could not be fetched, is too large, is not an image,
                or cannot be written (a full disk, a name over 255 bytes); no partial
                file is left.
            UnexpectedResponseError: A complete job without an ``image_url``.
        """
        return self._run(self._download_flow(image, dest, timeout, max_bytes))

    def call(self, operation: Operation, /, **kwargs: Any) -> Any:
        """Run any generated operation with this client's token, timeout and retries.

        For operations the spec gained after this SDK's methods were written: they are in
        the regenerated ``sharkapi_client`` package at once, and this runs them through
        the same machinery as every method here (errors are this SDK's exceptions).

        Args:
            operation: A ``sharkapi_client.api.<tag>.<name>`` module, or its operationId
                (``"getJob"``).
            **kwargs: The generated operation's own arguments (path and query
                parameters, ``body=`` a generated model).

        Returns:
            What the generated operation parses from the 2xx answer (a generated model).

        Raises:
            InvalidRequestError: Unknown operation or arguments; nothing was sent.
            APIStatusError: The API answered with an error status.
            APIConnectionError: The API could not be reached after the retries.
            UnexpectedResponseError: A 2xx answer the generated parser cannot read.
        """
        return self._run(call_flow(self, operation, kwargs))

    def close(self) -> None:
        """Close the HTTP connections, unless the client was given by the caller.

        Every later call raises `ClientClosedError` before sending anything.
        """
        self._closed = True
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
