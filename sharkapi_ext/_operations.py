"""Any generated operation, run through the SDK's token, retry, timeout and error machinery.

An operation the spec gains in a later release appears in the generated `sharkapi_client`
package as soon as it is regenerated, before this SDK has a method for it. `call` runs it
at once with the client's configuration::

    from sharkapi_client.api.generation import get_job

    status_model = client.call(get_job, job_id="job_8f2a9d3c")  # or client.call("getJob", ...)

The generated module builds the request (`_get_kwargs`) and parses the answer
(`_parse_response`); in between, the request goes through the same flow as every SDK
method (`BaseClient._request_flow`): the token for the API's own origin only, the
per-attempt timeout, the retry rules, and the status -> exception mapping. How it may be
retried follows the spec: an operation marked ``x-sharkapi-paid`` is retried only when it
cannot have reached the server, like a submit; a free one like a read.

`CLIENT_METHODS` says which SDK methods cover each spec operation; the drift test
(tests/spec/test_spec_surfaces.py) fails, naming it, when an operation has none.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

import httpx
import sharkapi_client.api
import sharkapi_spec as spec
from sharkapi_client import Client as GeneratedClient

from ._exceptions import InvalidRequestError, UnexpectedResponseError, body_excerpt
from ._retry import RequestKind

if TYPE_CHECKING:
    from ._core import BaseClient
    from ._flow import Flow

__all__ = ["CLIENT_METHODS", "Operation", "call_flow", "find_operation"]

#: The SDK methods (of both `SharkAPI` and `AsyncSharkAPI`) that cover each operation.
CLIENT_METHODS: Final[Mapping[str, tuple[str, ...]]] = {
    "generateImage": ("submit", "generate"),
    "getJob": ("get_job", "wait"),
}

Operation = ModuleType | str
"""A generated operation module (``sharkapi_client.api.<tag>.<name>``) or its operationId."""


def _snake(operation_id: str) -> str:
    # openapi-python-client's module names: "generateImage" -> "generate_image".
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def _operation_modules() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    api = sharkapi_client.api
    for info in pkgutil.walk_packages(api.__path__, api.__name__ + "."):
        if not info.ispkg:
            module = importlib.import_module(info.name)
            if hasattr(module, "_get_kwargs") and hasattr(module, "_parse_response"):
                found[info.name.rsplit(".", 1)[1]] = module
    return found


def find_operation(operation: Operation) -> tuple[ModuleType, str | None]:
    """The generated module of an operation, and its operationId if the spec facts know it.

    Raises:
        InvalidRequestError: No such generated operation.
    """
    if isinstance(operation, str):
        modules = _operation_modules()
        module = modules.get(_snake(operation)) or modules.get(operation)
        if module is None:
            raise InvalidRequestError(
                "operation",
                f"no generated operation {operation!r}; known: {', '.join(sorted(modules))}",
            )
    elif isinstance(operation, ModuleType) and hasattr(operation, "_get_kwargs"):
        module = operation
    else:
        raise InvalidRequestError(
            "operation",
            f"expected a sharkapi_client.api module or an operationId, got {operation!r:.60}",
        )
    name = module.__name__.rsplit(".", 1)[1]
    operation_id = next((op for op in spec.OPERATIONS if _snake(op) == name), None)
    return module, operation_id


def call_flow(client: BaseClient, operation: Operation, kwargs: dict[str, Any]) -> Flow[Any]:
    """Run one generated operation; returns what its ``_parse_response`` gives for a 2xx.

    Raises:
        InvalidRequestError: Unknown operation or arguments it does not take.
        APIStatusError: The API answered with an error status (mapped as everywhere).
        UnexpectedResponseError: A 2xx answer the generated parser cannot read.
    """
    module, operation_id = find_operation(operation)
    try:
        request_kwargs: dict[str, Any] = module._get_kwargs(**kwargs)
    except TypeError as exc:
        raise InvalidRequestError("operation", f"{module.__name__}: {exc}") from exc
    unsupported = set(request_kwargs) - {"method", "url", "json", "content", "params", "headers"}
    if unsupported:
        raise InvalidRequestError(
            "operation", f"{module.__name__} needs {sorted(unsupported)}, which call() cannot send"
        )
    method = str(request_kwargs["method"]).upper()
    url = httpx.URL(client._base + request_kwargs["url"])
    if request_kwargs.get("params"):
        params = {k: v for k, v in request_kwargs["params"].items() if v is not None}
        url = url.copy_merge_params(params)
    body: bytes | None = None
    headers = {**request_kwargs.get("headers", {}), **client._auth}
    if "json" in request_kwargs:
        body = json.dumps(request_kwargs["json"], separators=(",", ":")).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    elif "content" in request_kwargs:
        body = request_kwargs["content"]
    # A paid operation (or one the facts do not know) is never retried once it may have
    # reached the server: it could be charged twice.
    paid = operation_id is None or spec.OPERATIONS[operation_id]["paid"]
    kind = RequestKind.SUBMIT if paid else RequestKind.READ
    build: Callable[[float], httpx.Request] = lambda timeout: client._build(  # noqa: E731
        method, str(url), timeout, headers=headers, body=body
    )
    reply = yield from client._request_flow(build, kind)
    response = httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)
    try:
        return module._parse_response(client=_generated_client(client._base), response=response)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UnexpectedResponseError(
            f"HTTP {reply.status_code} answer to {operation_id or module.__name__} does not "
            f"parse ({type(exc).__name__}: {str(exc)[:200]})",
            status_code=reply.status_code,
            body=body_excerpt(reply.content),
        ) from exc


_GENERATED_CLIENTS: dict[str, GeneratedClient] = {}


def _generated_client(base_url: str) -> GeneratedClient:
    # The parsers only read `raise_on_unexpected_status` from it; it never sends anything.
    made = _GENERATED_CLIENTS.get(base_url)
    if made is None:
        made = _GENERATED_CLIENTS[base_url] = GeneratedClient(base_url=base_url)
    return made
