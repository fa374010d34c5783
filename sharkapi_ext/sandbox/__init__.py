"""A local, stateful SharkAPI server for tests and demos (the `sandbox` extra).

It plays both endpoints of `openapi.yaml` (`POST /v1/generate`, `GET /v1/jobs/{job_id}`) with
the spec's validation limits, bearer auth, wallets, a job lifecycle on a configurable clock,
real PNG images and fault injection. It never imports the generated client or the rest of
`sharkapi_ext`: it is an independent implementation, so a validation bug cannot hide in both.

Quick start::

    from sharkapi_ext.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(queued_seconds=0.05, processing_seconds=0.1)) as sandbox:
        ...  # talk to sandbox.base_url with "Authorization: Bearer " + sandbox.token

In pytest, the `sharkapi_sandbox` fixture gives the same with fast timings.

Tokens:
    `sk_test_sandbox` is ready with `SandboxConfig.default_balance` ($100.00), and so is
    `sk_test_sandbox_2` (`SECOND_TOKEN`, another account: for isolation checks). Any other token
    starting with `sk_test_` is accepted and gets a new wallet with the default balance
    (turn off with `auto_create_tokens=False`); any other unknown token gets 401
    `unauthorized`, a missing or malformed `Authorization` header 401, a revoked token 403
    `forbidden`. `Sandbox.add_token` and `POST /_sandbox/tokens` set balances and revocation.

Lifecycle:
    A job is `queued` for `queued_seconds`, `processing` for `processing_seconds`, then
    terminal. Status is computed from the clock when read; nothing runs in the background.
    Prompt marker words (case-insensitive, anywhere in the prompt):

    * `[fail]`: the job ends `failed` (error code `generation_failed`), cost `$0.00`.
    * `[moderate]`: the job ends `moderated` (error code `content_moderated`), cost `$0.00`.
    * `[blocked]`: `POST /v1/generate` answers 422 `moderation_rejected`; no job, no charge.
    * `[status:NAME]`: the job ends with NAME, any terminal status the spec lists (one added
      by a later release too); error code `job_NAME` unless NAME is the success status.

    The statuses, which are terminal and which are charged come from the spec
    (`sharkapi_spec`); so do the validation limits, prices and image sizes.

Wallets:
    Prices: the spec's (`sharkapi_spec.MODE_PRICES`). A submission whose price exceeds the
    balance minus the prices of that token's unfinished jobs gets 402 `insufficient_balance`.
    A job is charged its price exactly once, when it completes; never when it fails or is
    moderated.

Errors and ids:
    Error bodies are `{"error": {"code", "message"}}`; 400 messages name the field and the
    limit. Content-Type must be `application/json` (400 otherwise). An unknown job, or
    another token's job, is 404 `not_found`; a job id that breaks the `JobId` pattern is 400
    `invalid_request` (or 404 from the router when it contains `/`). Unknown paths are 404,
    wrong methods 405 with `Allow`. Every response has an `X-Request-Id` header.

Images:
    `image_url` is `<image origin>/_sandbox/images/<job_id>.png`, served without auth and only
    once the job is complete. The image origin differs from the API's (`localhost` against
    `127.0.0.1`), so a client that sends its token to the image host shows up in
    `Sandbox.requests()` (`has_authorization`). Images are PNGs of the mode's size
    (`sharkapi_spec.MODE_SIZES`): a procedural scene chosen by the prompt (its words pick
    sea or hills and the time of day; "shark" adds fins), captioned with the prompt, mode
    and job id, and badged "SharkAPI sandbox". The same prompt always gives the same
    scene. With an input image, the source is scaled and blended in by `image_strength`
    (1.0 keeps only the source) under the caption.

Faults (only on `/v1` endpoints, never on admin or image endpoints):
    Random rates in `SandboxConfig` (changed at run time with `Sandbox.set_faults` or
    `POST /_sandbox/faults`), or forced on one request by the header
    `X-Sandbox-Fault: <name>[;retry-after=N][;seconds=N][, <name>...]` with names:

    * `429`: 429 `rate_limited` with `Retry-After` (default `retry_after_seconds`).
    * `503`: 503 `service_unavailable` with `Retry-After`.
    * `503-no-retry-after`: 503 without `Retry-After` (clients then wait the spec's
      `SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS`).
    * any other error status the spec documents (`400`, `401`, `402`, `403`, `404`,
      `422` today; a status a later release documents, such as `409`, at once): that
      status with the spec's `error.code` (from its example) and example message,
      answered before authentication and before any job is created.
    * `500`: an HTML 500 page.
    * `502`: an HTML 502 page, as a proxy sends.
    * `slow[;seconds=N]`: the answer is delayed (default `slow_seconds`).
    * `drop-after-create`: on `POST /v1/generate`, the job IS created, then the response
      headers and half the body are sent and the connection is closed. httpx raises
      `httpx.RemoteProtocolError` (over HTTP: "peer closed connection without sending
      complete message body"; in process, `DroppedConnection`, a subclass of it).
    * `bad-schema`: success bodies carry `estimated_cost` as a number (breaks the schema).
    * `wrong-status`: `POST /v1/generate` answers 200 instead of 202.

    429 and 503 are answered before authentication and before any job is created, so a
    client may safely retry them. 500 and 502 on `POST /v1/generate` replace the answer
    AFTER the request was handled: a valid request has created its job (and it will be
    charged when it completes), exactly as when a proxy fails after the upstream accepted
    the work, so a client must not retry. On `GET /v1/jobs/{id}` they replace the answer.
    `rate_limit_per_second` counts each token's `/v1` requests in a sliding one-second
    window and answers 429 with `Retry-After` above it, before any job is created.

Answers from the spec:
    Success bodies have exactly the properties of the spec's `Job` and `JobStatus`
    schemas, in order: a field a later spec adds is sent with a value made from its
    schema (null when optional and nullable), and a field it renames or removes is no
    longer sent (the logger `sharkapi_ext.sandbox` warns once, naming it). Error codes are
    the spec's, and a response header the spec documents (beyond `Retry-After` and
    `X-Request-Id`, which the sandbox sets itself) is sent with a value from its schema.

Admin endpoints (not in `openapi.yaml`, no auth):
    `GET /_sandbox/ledger`, `GET /_sandbox/submissions`, `GET /_sandbox/requests`,
    `GET|POST /_sandbox/faults` (JSON object of `FAULT_RATE_FIELDS`),
    `POST /_sandbox/tokens` (`{"token", "balance": "1.50", "revoked": false}`),
    `GET /_sandbox/images/<job_id>.png`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app
    from ._config import FAULT_RATE_FIELDS, SandboxConfig
    from ._faults import FAULT_HEADER, FAULT_NAMES, DroppedConnection
    from ._records import Charge, RequestRecord, Submission
    from ._server import DEFAULT_TOKEN, SECOND_TOKEN, Sandbox, serve
    from ._state import MARKER_BLOCKED, MARKER_FAIL, MARKER_MODERATE, PRICES, SandboxState

# Imported on first use: the pytest plugin lives in this package, and loading it must not
# import starlette, uvicorn or Pillow for users who installed the SDK without the extra.
_LAZY = {
    "create_app": "._app",
    "FAULT_RATE_FIELDS": "._config",
    "SandboxConfig": "._config",
    "FAULT_HEADER": "._faults",
    "FAULT_NAMES": "._faults",
    "DroppedConnection": "._faults",
    "DEFAULT_TOKEN": "._server",
    "SECOND_TOKEN": "._server",
    "Sandbox": "._server",
    "serve": "._server",
    "MARKER_BLOCKED": "._state",
    "MARKER_FAIL": "._state",
    "MARKER_MODERATE": "._state",
    "PRICES": "._state",
    "Charge": "._records",
    "RequestRecord": "._records",
    "SandboxState": "._state",
    "Submission": "._records",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_TOKEN",
    "FAULT_HEADER",
    "FAULT_NAMES",
    "FAULT_RATE_FIELDS",
    "MARKER_BLOCKED",
    "MARKER_FAIL",
    "MARKER_MODERATE",
    "PRICES",
    "SECOND_TOKEN",
    "Charge",
    "DroppedConnection",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
    "SandboxState",
    "Submission",
    "create_app",
    "serve",
]
