"""The sandbox's ASGI application: the two `/v1` endpoints, admin endpoints and images."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import urlsplit

import anyio.to_thread
import sharkapi_spec as spec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._answers import (
    DOCUMENTED_ERROR_STATUSES,
    answer,
    error_code,
    error_message,
)
from ._config import SandboxConfig
from ._faults import (
    FAULT_HEADER,
    FaultHeaderError,
    Faults,
    draw_faults,
    parse_fault_header,
)
from ._images import render_png
from ._observe import Observe
from ._records import QUEUED, TERMINAL_STATUSES, Job, Wallet, format_money, format_time
from ._responses import (
    HTML_PAGES,
    DropResponse,
    error_response,
    html_response,
    job_error,
    json_response,
)
from ._state import MARKER_BLOCKED, PRICES, SandboxState
from ._validation import (
    JOB_ID_PATTERN,
    MAX_BODY_BYTES,
    ValidationFailed,
    is_json_content_type,
    parse_generate,
)

__all__ = ["create_app"]

logger = logging.getLogger("sharkapi_ext.sandbox")

_BEARER: Final = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9._~+/-]+=*) *")
_HOST: Final = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
# Bodies above this are validated in a worker thread: decoding a 10 MiB image would otherwise
# stall every other request on the event loop.
_THREAD_BODY_BYTES: Final = 64 * 1024

_SUBMIT: Final = "generateImage"
_GET_JOB: Final = "getJob"
#: Documented error statuses forced by `X-Sandbox-Fault: NNN` as spec errors; 429 and 503
#: have handling of their own, and 500 and 502 are a proxy's HTML pages unless documented.
DOCUMENTED_FAULTS: Final = frozenset(DOCUMENTED_ERROR_STATUSES) - {429, 503}


class _Handlers:
    def __init__(self, state: SandboxState, image_origin: str | None) -> None:
        self.state = state
        self.image_origin = image_origin.rstrip("/") if image_origin else None

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _origin(request: Request) -> str:
        scheme = request.url.scheme if request.url.scheme in {"http", "https"} else "http"
        host = request.headers.get("host", "")
        if _HOST.fullmatch(host) is None:
            # A garbage Host header must not turn poll_url into an invalid URI.
            server = request.scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        return f"{scheme}://{host}"

    def _image_origin(self, api_origin: str) -> str:
        if self.image_origin:
            return self.image_origin
        parts = urlsplit(api_origin)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        # A different origin than the API's, so a client that sends its token there is caught.
        other = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(host, f"images.{host}")
        return f"{parts.scheme}://{other}{port}"

    def _authenticate(self, request: Request) -> tuple[str, Wallet] | Response:
        header = request.headers.get("authorization")
        match = _BEARER.fullmatch(header) if header is not None else None
        if match is None:
            return error_response(401, "unauthorized", "Missing or malformed bearer token.")
        token = match.group(1)
        wallet = self.state.wallet(token)
        if wallet is None:
            return error_response(
                401,
                "unauthorized",
                "Unknown token. Any token starting with sk_test_ is accepted by this sandbox.",
            )
        if wallet.revoked:
            return error_response(403, "forbidden", "This token has been revoked.")
        return token, wallet

    async def _v1(
        self,
        request: Request,
        handler: Callable[[Request, Wallet, Faults], Awaitable[Response]],
        *,
        creates: bool,
        operation: str,
    ) -> Response:
        header = request.headers.get(FAULT_HEADER)
        try:
            faults = (
                parse_fault_header(header, self.state.config)
                if header is not None
                else draw_faults(self.state)
            )
        except FaultHeaderError as exc:
            return error_response(400, "invalid_request", str(exc))
        if faults.slow_seconds:
            await asyncio.sleep(faults.slow_seconds)
        # 429 and 503 come before anything else, so a POST answered so never created a job.
        if faults.status == 429:
            return error_response(
                429,
                "rate_limited",
                f"Rate limit exceeded; retry in {faults.retry_after} seconds.",
                retry_after=faults.retry_after,
            )
        if faults.status == 503:
            wait = 30 if faults.retry_after is None else faults.retry_after
            return error_response(
                503,
                "service_unavailable",
                f"Generation service temporarily unavailable; retry after {wait} seconds.",
                retry_after=faults.retry_after,
            )
        if faults.status in DOCUMENTED_FAULTS:
            # Any other status the spec documents, forced: with the spec's code and its
            # example's message, before anything is created or charged.
            return error_response(
                faults.status,
                error_code(faults.status, "error", operation),
                error_message(faults.status, operation),
                retry_after=faults.retry_after,
            )
        if faults.status in HTML_PAGES and not creates:
            return html_response(faults.status)
        auth = self._authenticate(request)
        if isinstance(auth, Response):
            response = auth
        else:
            token, wallet = auth
            if self.state.over_rate_limit(token):
                retry = self.state.config.retry_after_seconds
                return error_response(
                    429,
                    "rate_limited",
                    f"Rate limit exceeded; retry in {retry} seconds.",
                    retry_after=retry,
                )
            response = await handler(request, wallet, faults)
        if faults.status in HTML_PAGES:
            # A proxy's error page after the request was handled: on POST a valid request
            # HAS created its job, so a client that retries it makes a duplicate.
            return html_response(faults.status)
        if creates and faults.drop_after_create and response.status_code in {200, 202}:
            return DropResponse(response.body, response.status_code, media_type="application/json")
        return response

    # -- /v1 -------------------------------------------------------------------------------

    async def generate(self, request: Request) -> Response:
        return await self._v1(request, self._generate, creates=True, operation=_SUBMIT)

    async def _generate(self, request: Request, wallet: Wallet, faults: Faults) -> Response:
        if not is_json_content_type(request.headers.get("content-type")):
            return error_response(400, "invalid_request", "Content-Type: must be application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return error_response(
                400, "invalid_request", f"body: at most {MAX_BODY_BYTES} bytes, got {declared}"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return error_response(
                    400, "invalid_request", f"body: at most {MAX_BODY_BYTES} bytes"
                )
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            if len(raw) > _THREAD_BODY_BYTES:
                params = await anyio.to_thread.run_sync(parse_generate, raw)
            else:
                params = parse_generate(raw)
        except ValidationFailed as exc:
            return error_response(400, "invalid_request", str(exc))
        if MARKER_BLOCKED in params.prompt.casefold():
            return error_response(
                422, "moderation_rejected", "The prompt failed content moderation."
            )
        job = self.state.submit(
            wallet,
            prompt=params.prompt,
            mode=params.mode,
            image=params.image,
            image_strength=params.image_strength,
            extra=params.extra,
        )
        if not isinstance(job, Job):
            price = PRICES.get(params.mode, spec.MAX_MODE_PRICE)
            return error_response(
                402,
                "insufficient_balance",
                f"Wallet balance {format_money(max(job, Decimal(0)))} (after jobs in flight) "
                f"is below this job's cost {format_money(price)}.",
            )
        origin = self._origin(request)
        known: dict[str, Any] = {
            **job.extra,  # a request field the answer also declares (say `seed`)
            "job_id": job.job_id,
            "status": QUEUED,
            "estimated_cost": format_money(job.price),
            "poll_url": f"{origin}/v1/jobs/{job.job_id}",
            "created_at": format_time(job.created_at),
        }
        body = answer("Job", spec.JOB_SCHEMA, known)
        if faults.bad_schema:
            body["estimated_cost"] = float(job.price)
        return json_response(body, 200 if faults.wrong_status else 202)

    async def get_job(self, request: Request) -> Response:
        return await self._v1(request, self._get_job, creates=False, operation=_GET_JOB)

    async def _get_job(self, request: Request, wallet: Wallet, faults: Faults) -> Response:
        job_id = request.path_params["job_id"]
        if JOB_ID_PATTERN.fullmatch(job_id) is None:
            return error_response(
                400,
                "invalid_request",
                "job_id: must be 1 to 128 letters, digits, '_' or '-'",
            )
        found = self.state.job(job_id, wallet.account)
        if found is None:
            # Also for another account's job: its existence is not revealed.
            return error_response(404, "not_found", f"No job with id {job_id}.")
        job, status = found
        origin = self._origin(request)
        updated = job.updated_at(status)
        terminal = status in TERMINAL_STATUSES
        cost: str | None = None
        if terminal:
            cost = format_money(job.price if status in spec.CHARGED_STATUSES else Decimal(0))
        known: dict[str, Any] = {
            **job.extra,
            "job_id": job.job_id,
            "status": status,
            "mode": job.mode,
            "created_at": format_time(job.created_at),
            "updated_at": None if updated is None else format_time(updated),
            "estimated_cost": format_money(job.price),
            "cost": cost,
            "image_url": (
                f"{self._image_origin(origin)}/_sandbox/images/{job.job_id}.png"
                if status == spec.SUCCESS_STATUS
                else None
            ),
            "error": job_error(status),
            "poll_url": f"{origin}/v1/jobs/{job.job_id}",
        }
        body = answer("JobStatus", spec.JOB_STATUS_SCHEMA, known)
        if faults.bad_schema:
            body["estimated_cost"] = float(job.price)
        return json_response(body)

    # -- images ----------------------------------------------------------------------------

    async def image(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        found = self.state.job(job_id)
        if found is None or found[1] != spec.SUCCESS_STATUS:
            return error_response(404, "not_found", f"No finished image for job {job_id[:140]}.")
        job = found[0]
        png = await anyio.to_thread.run_sync(
            render_png, job.prompt, job.mode, job.image, job.image_strength, job.job_id
        )
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    # -- admin -----------------------------------------------------------------------------

    async def ledger(self, request: Request) -> Response:
        return json_response({"charges": [charge.to_json() for charge in self.state.ledger()]})

    async def submissions(self, request: Request) -> Response:
        return json_response({"submissions": [item.to_json() for item in self.state.submissions()]})

    async def requests(self, request: Request) -> Response:
        return json_response({"requests": [item.to_json() for item in self.state.requests()]})

    async def faults(self, request: Request) -> Response:
        if request.method != "POST":
            return json_response({"faults": self.state.config.faults_dict()})
        body = await _admin_body(request)
        if isinstance(body, Response):
            return body
        try:
            config = self.state.set_faults(**body)
        except (ValueError, TypeError) as exc:
            return error_response(400, "invalid_request", str(exc))
        return json_response({"faults": config.faults_dict()})

    async def add_token(self, request: Request) -> Response:
        body = await _admin_body(request)
        if isinstance(body, Response):
            return body
        token = body.get("token")
        if not isinstance(token, str) or _BEARER.fullmatch(f"Bearer {token}") is None:
            return error_response(400, "invalid_request", "token: required, a bearer token string")
        unknown = sorted(set(body) - {"token", "balance", "revoked"})
        if unknown:
            return error_response(400, "invalid_request", f"unknown fields: {', '.join(unknown)}")
        balance: Decimal | None = None
        if "balance" in body:
            raw = body["balance"]
            try:
                if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                    raise InvalidOperation
                balance = Decimal(str(raw).removeprefix("$"))
                if not balance.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                return error_response(
                    400, "invalid_request", "balance: must be a decimal string like 1.50"
                )
        revoked = body.get("revoked", False)
        if not isinstance(revoked, bool):
            return error_response(400, "invalid_request", "revoked: must be a boolean")
        account = self.state.add_token(token, balance=balance, revoked=revoked)
        current = self.state.balance(token)
        assert current is not None
        return json_response(
            {"account": account, "balance": format_money(current), "revoked": revoked}
        )


async def _admin_body(request: Request) -> dict[str, Any] | Response:
    if not is_json_content_type(request.headers.get("content-type")):
        return error_response(400, "invalid_request", "Content-Type: must be application/json")
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        return error_response(400, "invalid_request", "body: not valid JSON")
    if not isinstance(body, dict):
        return error_response(400, "invalid_request", "body: must be a JSON object")
    return body


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = {404: "No such endpoint.", 405: "Method not allowed on this endpoint."}
    response = error_response(
        exc.status_code,
        codes.get(exc.status_code, "error"),
        message.get(exc.status_code, str(exc.detail)),
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def create_app(
    config: SandboxConfig | None = None,
    *,
    state: SandboxState | None = None,
    image_origin: str | None = None,
) -> Starlette:
    """Build the sandbox as an ASGI app, for in-process use (httpx.ASGITransport, schemathesis).

    Args:
        config: The configuration; ignored when `state` is given (the state carries its own).
        state: Existing state to serve, e.g. to share one between an app and the test.
        image_origin: Origin for `image_url`, such as `http://localhost:8000`. None derives one
            from each request that differs from the API's: `127.0.0.1` and `localhost` swap,
            any other host gets an `images.` prefix.

    Returns:
        The Starlette app; its `state.sandbox` attribute is the `SandboxState`.
    """
    if state is None:
        state = SandboxState(config or SandboxConfig())
    handlers = _Handlers(state, image_origin)
    routes = [
        Route("/v1/generate", handlers.generate, methods=["POST"]),
        Route("/v1/jobs/{job_id}", handlers.get_job, methods=["GET"]),
        Route("/_sandbox/images/{job_id}.png", handlers.image, methods=["GET"]),
        Route("/_sandbox/ledger", handlers.ledger, methods=["GET"]),
        Route("/_sandbox/submissions", handlers.submissions, methods=["GET"]),
        Route("/_sandbox/requests", handlers.requests, methods=["GET"]),
        Route("/_sandbox/faults", handlers.faults, methods=["GET", "POST"]),
        Route("/_sandbox/tokens", handlers.add_token, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error},
    )
    app.state.sandbox = state
    app.add_middleware(Observe, state=state)
    return app
