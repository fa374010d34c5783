"""Staging servers with one realistic bug each: the sandbox with one behaviour changed.

`broken_sandbox(bug)` starts a `Sandbox` (fast jobs) whose answers, requests or state differ
from the healthy sandbox in exactly the way `BUGS[bug]` says. Most bugs are an ASGI
middleware around the sandbox's own app that rewrites one kind of request or answer; the
isolation and wallet bugs change the sandbox's state instead. Every value (modes, prices,
sizes, statuses, limits) comes from the spec's facts, as in the sandbox itself.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sharkapi_spec as spec
from PIL import Image

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

FAST = {"queued_seconds": 0.05, "processing_seconds": 0.1}
#: The sandbox's rate limit for the promises that need a 429 (requests per second per token).
#: Low enough that a run on a loaded machine, whose requests are slow (about 7 a second
#: seen), still exceeds it: at 15 a second such a run saw no 429 and left the promise
#: unchecked.
RATE_LIMIT = 4.0
JOB_PATH = re.compile(r"/v1/jobs/([^/]+)")
CHEAPEST = min(spec.MODES, key=lambda m: spec.MODE_PRICES[m])
DEAREST = max(spec.MODES, key=lambda m: spec.MODE_PRICES[m])
PRODUCTION = "https://api.sharkapi.dev"  # openapi.yaml servers[0]


def money(amount: Decimal) -> str:
    return f"${amount:.2f}"


@dataclass
class Exchange:
    """What a rewrite sees and may change."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    answer_headers: list[tuple[bytes, bytes]] | None = None
    answer: bytes = b""

    def json(self) -> Any:
        try:
            return json.loads(self.answer)
        except ValueError:
            return None

    def set_json(self, data: Any) -> None:
        self.answer = json.dumps(data).encode()


class Rewrite:
    """ASGI middleware: `before(exchange)` may answer or change the request body;
    `after(exchange)` may change the answer (buffered in full)."""

    def __init__(
        self,
        app: Any,
        *,
        before: Callable[[Exchange], None] | None = None,
        after: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.app, self.before, self.after = app, before, after

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        ex = Exchange(
            scope["method"],
            scope["path"],
            {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            b"".join(chunks),
        )
        if self.before:
            self.before(ex)
        if ex.status:  # answered before the sandbox saw it
            await _send(send, ex)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(ex.body)).encode()))
        scope = {**scope, "headers": headers}
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": ex.body, "more_body": False}

        parts: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                ex.status = message["status"]
                ex.answer_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        ex.answer = b"".join(parts)
        if self.after:
            self.after(ex)
        await _send(send, ex)


async def _send(send: Any, ex: Exchange) -> None:
    headers = [
        (k, v)
        for k, v in (ex.answer_headers or [(b"content-type", b"application/json")])
        if k.lower() != b"content-length"
    ]
    headers.append((b"content-length", str(len(ex.answer)).encode()))
    await send({"type": "http.response.start", "status": ex.status, "headers": headers})
    await send({"type": "http.response.body", "body": ex.answer})


def _on_job(change: Callable[[dict[str, Any]], None]) -> Callable[[Exchange], None]:
    """An `after` that changes every 200 JSON answer of GET /v1/jobs/{id}."""

    def after(ex: Exchange) -> None:
        data = ex.json()
        if ex.method == "GET" and JOB_PATH.fullmatch(ex.path) and ex.status == 200 and data:
            change(data)
            ex.set_json(data)

    return after


def _on_created(change: Callable[[dict[str, Any]], None]) -> Callable[[Exchange], None]:
    def after(ex: Exchange) -> None:
        data = ex.json()
        if ex.method == "POST" and ex.path == "/v1/generate" and ex.status == 202 and data:
            change(data)
            ex.set_json(data)

    return after


def _on_submit(change: Callable[[dict[str, Any]], None]) -> Callable[[Exchange], None]:
    def before(ex: Exchange) -> None:
        if ex.method == "POST" and ex.path == "/v1/generate":
            try:
                body = json.loads(ex.body)
            except ValueError:
                return
            if isinstance(body, dict):
                change(body)
                ex.body = json.dumps(body).encode()

    return before


# -- the bugs ----------------------------------------------------------------------------


def double_charge(data: dict[str, Any]) -> None:
    if data["status"] in spec.CHARGED_STATUSES and data["mode"] == DEAREST:
        data["cost"] = money(2 * spec.MODE_PRICES[DEAREST])


def charge_failed(data: dict[str, Any]) -> None:
    if data["status"] in spec.TERMINAL_STATUSES - spec.CHARGED_STATUSES:
        data["cost"] = money(spec.MODE_PRICES[data["mode"]])


def estimate_low_created(data: dict[str, Any]) -> None:
    if data["estimated_cost"] == money(spec.MODE_PRICES[DEAREST]):
        data["estimated_cost"] = money(spec.MODE_PRICES[CHEAPEST])


def estimate_low(data: dict[str, Any]) -> None:
    if data["mode"] == DEAREST:
        data["estimated_cost"] = money(spec.MODE_PRICES[CHEAPEST])


def lagging_replica() -> Callable[[dict[str, Any]], None]:
    reads: dict[str, itertools.count[int]] = {}

    def change(data: dict[str, Any]) -> None:
        # Every other read of a finished job comes from a replica that has not seen it.
        if (
            data["status"] == spec.SUCCESS_STATUS
            and next(reads.setdefault(data["job_id"], itertools.count())) % 2
        ):
            data.update(status=spec.JOB_STATUSES[1], image_url=None, cost=None)

    return change


def no_image_url(data: dict[str, Any]) -> None:
    if data["status"] == spec.SUCCESS_STATUS:
        data["image_url"] = None


def early_image_url(data: dict[str, Any]) -> None:
    if data["status"] not in spec.TERMINAL_STATUSES:
        data["image_url"] = f"{PRODUCTION}/images/{data['job_id']}.png"


def unknown_job_id(data: dict[str, Any]) -> None:
    data["job_id"] = data["job_id"] + "x"


def production_poll_url(data: dict[str, Any]) -> None:
    data["poll_url"] = f"{PRODUCTION}/v1/jobs/{data['job_id']}"


def clock_skew() -> Callable[[dict[str, Any]], None]:
    last: dict[str, datetime] = {}

    def change(data: dict[str, Any]) -> None:
        # Replicas whose clocks disagree: each read's updated_at is a second before the last.
        if data.get("updated_at") is None:
            return
        seen = last.get(data["job_id"])
        moment = datetime.fromisoformat(data["updated_at"].replace("Z", "+00:00"))
        if seen is not None:
            moment = seen - timedelta(seconds=1)
        last[data["job_id"]] = moment
        data["updated_at"] = moment.isoformat().replace("+00:00", "Z")

    return change


def accepts_next_mode(body: dict[str, Any]) -> None:
    # A staging build ahead of the spec: a mode named like the others but bigger is served.
    mode = body.get("mode")
    if isinstance(mode, str) and re.fullmatch(r"[0-9]+k", mode) and mode not in spec.MODES:
        body["mode"] = DEAREST


def case_insensitive_mode(body: dict[str, Any]) -> None:
    if isinstance(body.get("mode"), str):
        body["mode"] = body["mode"].strip().lower()


def truncates_prompt(body: dict[str, Any]) -> None:
    if isinstance(body.get("prompt"), str):
        body["prompt"] = body["prompt"][: spec.PROMPT_MAX_LENGTH]


def clamps_strength(body: dict[str, Any]) -> None:
    value = body.get("image_strength")
    if isinstance(value, float):
        body["image_strength"] = min(max(value, spec.IMAGE_STRENGTH_MIN), spec.IMAGE_STRENGTH_MAX)


def image_limit_off_by_one(body: dict[str, Any]) -> None:
    # `>` where `>=` belongs: an image of the limit plus one byte is accepted (and, here,
    # generated from a small copy, since the sandbox itself would refuse the big one).
    image = body.get("image")
    if isinstance(image, str) and len(image) > 1_000_000:
        try:
            size = len(binascii.a2b_base64(image))
        except binascii.Error:
            return
        if size <= spec.IMAGE_MAX_BYTES + 1:
            body["image"] = _png(1, 1)


def _png(width: int, height: int) -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 60, 120)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def _on_image(change: Callable[[Exchange], None]) -> Callable[[Exchange], None]:
    def after(ex: Exchange) -> None:
        if ex.path.startswith("/_sandbox/images/") and ex.status == 200:
            change(ex)

    return after


def image_html(ex: Exchange) -> None:
    ex.answer_headers = [(b"content-type", b"text/html; charset=utf-8")]
    ex.answer = b"<!DOCTYPE html><html><body><h1>Your image is ready</h1></body></html>"


def image_wrong_size(ex: Exchange) -> None:
    small = spec.MODE_SIZES[CHEAPEST]
    ex.answer = base64.b64decode(_png(small[0] // 2, small[1] // 2))


def image_needs_token(ex: Exchange) -> None:
    if "authorization" not in ex.headers:
        ex.status = 401
        ex.answer_headers = [(b"content-type", b"application/json")]
        ex.set_json({"error": {"code": "unauthorized", "message": "Sign in to see images."}})


def slow_one_in_ten(seconds: float) -> Callable[[Exchange], None]:
    count = itertools.count(1)

    def before(ex: Exchange) -> None:
        if ex.path.startswith("/v1/") and next(count) % 10 == 0:
            time.sleep(seconds)  # blocks the server's loop, as an overloaded replica does

    return before


def no_retry_after(ex: Exchange) -> None:
    if ex.status == 429 and ex.answer_headers:
        ex.answer_headers = [(k, v) for k, v in ex.answer_headers if k.lower() != b"retry-after"]


#: bug name -> (promise class, what the bug is).
BUGS: dict[str, tuple[str, str]] = {
    "double-charge": ("money", f"a complete {DEAREST} job costs twice its price"),
    "charge-failed": ("money", "failed and moderated jobs report their mode's price as cost"),
    "estimate-low": ("money", f"a {DEAREST} estimate at the {CHEAPEST} price"),
    "lagging-replica": ("lifecycle", "a complete job reads as processing on every other poll"),
    "no-image-url": ("lifecycle", "complete with image_url null"),
    "early-image-url": ("lifecycle", "an unfinished job carries an image_url"),
    "unknown-job-id": ("lifecycle", "a 202 whose job_id the GET endpoint does not know"),
    "production-poll-url": ("lifecycle", "poll_url points at production"),
    "clock-skew": ("lifecycle", "updated_at goes backwards from read to read"),
    "no-retry-after": ("errors", "a 429 without Retry-After (rate limiter on)"),
    "shared-jobs": ("isolation", "GET /v1/jobs/{id} returns another account's job"),
    "accepts-next-mode": ("inputs", "a staging build that accepts a mode ahead of the spec"),
    "case-insensitive-mode": ("inputs", "modes matched ignoring case and spaces"),
    "truncates-prompt": ("inputs", "an over-long prompt is cut, not refused"),
    "clamps-strength": ("inputs", "an out-of-range image_strength is clamped, not refused"),
    "image-limit-off-by-one": ("inputs", "an image of the byte limit plus one is accepted"),
    "image-html": ("images", "image_url serves an HTML page"),
    "image-wrong-size": ("images", "image_url serves a PNG of the wrong size"),
    "image-needs-token": ("images", "image_url needs the bearer token"),
    "wallet-402": ("happy-path", "a broken wallet check answers 402 to every valid submit"),
    "slow-one-in-ten": ("latency", "one API request in ten is slow"),
}

SLOW_SECONDS = 0.35  # with --max-response-time 0.25 in the tests


@contextmanager
def broken_sandbox(bug: str | None, **config: Any) -> Iterator[Sandbox]:
    """A running sandbox with `bug` (None: healthy), stopped on exit."""
    if bug == "no-retry-after":
        config.setdefault("rate_limit_per_second", RATE_LIMIT)
    sandbox = Sandbox(SandboxConfig(**{**FAST, **config}))
    app = sandbox.app
    wrap: dict[str, Any] = {}
    if bug == "double-charge":
        wrap["after"] = _on_job(double_charge)
    elif bug == "charge-failed":
        wrap["after"] = _on_job(charge_failed)
    elif bug == "estimate-low":
        created, read = _on_created(estimate_low_created), _on_job(estimate_low)
        wrap["after"] = lambda ex: (created(ex), read(ex))
    elif bug == "lagging-replica":
        wrap["after"] = _on_job(lagging_replica())
    elif bug == "no-image-url":
        wrap["after"] = _on_job(no_image_url)
    elif bug == "early-image-url":
        wrap["after"] = _on_job(early_image_url)
    elif bug == "unknown-job-id":
        wrap["after"] = _on_created(unknown_job_id)
    elif bug == "production-poll-url":
        wrap["after"] = _on_created(production_poll_url)
    elif bug == "clock-skew":
        wrap["after"] = _on_job(clock_skew())
    elif bug == "no-retry-after":
        wrap["after"] = no_retry_after
    elif bug == "shared-jobs":
        original = sandbox.state.job
        sandbox.state.job = lambda job_id, account=None: original(job_id)  # type: ignore[method-assign]
    elif bug == "accepts-next-mode":
        wrap["before"] = _on_submit(accepts_next_mode)
    elif bug == "case-insensitive-mode":
        wrap["before"] = _on_submit(case_insensitive_mode)
    elif bug == "truncates-prompt":
        wrap["before"] = _on_submit(truncates_prompt)
    elif bug == "clamps-strength":
        wrap["before"] = _on_submit(clamps_strength)
    elif bug == "image-limit-off-by-one":
        wrap["before"] = _on_submit(image_limit_off_by_one)
    elif bug == "image-html":
        wrap["after"] = _on_image(image_html)
    elif bug == "image-wrong-size":
        wrap["after"] = _on_image(image_wrong_size)
    elif bug == "image-needs-token":
        wrap["after"] = _on_image(image_needs_token)
    elif bug == "wallet-402":
        for token in (sandbox.token, sandbox.second_token):
            sandbox.add_token(token, balance=Decimal(0))
    elif bug == "slow-one-in-ten":
        wrap["before"] = slow_one_in_ten(SLOW_SECONDS)
    elif bug is not None:
        raise ValueError(f"unknown bug {bug!r}")
    if wrap:
        sandbox.app = Rewrite(app, **wrap)  # type: ignore[assignment]
    with sandbox:
        yield sandbox
