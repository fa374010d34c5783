"""SharkAPI Python SDK: typed errors, safe retries, bounded polling, images and downloads.

    from sharkapi_ext import SharkAPI

    with SharkAPI() as client:                      # token from SHARKAPI_TOKEN
        done = client.generate("a great white shark")  # the cheapest mode
        path = client.download(done, "out/")

`AsyncSharkAPI` offers the same as coroutines, plus `generate_many`. The low-level
generated client stays available as the `sharkapi_client` package.
"""

import importlib
from typing import TYPE_CHECKING

from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    DownloadError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidRequestError,
    JobError,
    JobFailedError,
    JobModeratedError,
    JobOutcome,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    SharkAPIError,
    SpendCapExceededError,
    SubmissionOutcomeUnknownError,
    UnexpectedResponseError,
    WaitTimeoutError,
    job_outcome,
)
from ._images import (
    IMAGE_EXTENSIONS,
    MAX_IMAGE_BYTES,
    ImageSource,
    decode_image,
    encode_image,
    image_extension,
)
from ._version import __version__

if TYPE_CHECKING:
    from ._aiohttp import AiohttpTransport, aiohttp_http_client
    from ._async_client import AsyncSharkAPI
    from ._client import SharkAPI
    from ._connection import DEFAULT_BASE_URL
    from ._download import DEFAULT_MAX_DOWNLOAD_BYTES
    from ._many import GenerateRequest, GenerateResult
    from ._models import KNOWN_STATUSES, TERMINAL_STATUSES, Job, JobStatus, parse_money
    from ._render import format_amount, format_dollars, job_status_dict
    from ._spend import Reservation, SpendCap
    from ._validation import (
        DEFAULT_MODE,
        JSON,
        KEYWORD_FIELDS,
        check_generate_request,
        check_job_id,
        check_prompts,
    )

# The clients and their parsers load on first use (PEP 562), with the generated package
# and httpx beneath them, so that `import sharkapi_ext.sandbox` does not import the client
# at all (the sandbox is an independent implementation of the API), and a command line
# that only checks or reads (`sharkapi batch` of a finished batch) loads no HTTP stack.
_LAZY = {
    "AiohttpTransport": "._aiohttp",
    "aiohttp_http_client": "._aiohttp",
    "AsyncSharkAPI": "._async_client",
    "GenerateRequest": "._many",
    "SharkAPI": "._client",
    "DEFAULT_BASE_URL": "._connection",
    "DEFAULT_MAX_DOWNLOAD_BYTES": "._download",
    "DEFAULT_MODE": "._validation",
    "JSON": "._validation",
    "KEYWORD_FIELDS": "._validation",
    "check_generate_request": "._validation",
    "check_job_id": "._validation",
    "check_prompts": "._validation",
    "KNOWN_STATUSES": "._models",
    "TERMINAL_STATUSES": "._models",
    "Job": "._models",
    "JobStatus": "._models",
    "parse_money": "._models",
    "format_amount": "._render",
    "format_dollars": "._render",
    "job_status_dict": "._render",
    "Reservation": "._spend",
    "SpendCap": "._spend",
    "GenerateResult": "._many",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_MODE",
    "IMAGE_EXTENSIONS",
    "JSON",
    "KEYWORD_FIELDS",
    "KNOWN_STATUSES",
    "MAX_IMAGE_BYTES",
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AiohttpTransport",
    "AsyncSharkAPI",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "DownloadError",
    "GenerateRequest",
    "GenerateResult",
    "ImageSource",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidRequestError",
    "Job",
    "JobError",
    "JobFailedError",
    "JobModeratedError",
    "JobOutcome",
    "JobStatus",
    "ModerationError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Reservation",
    "ServiceUnavailableError",
    "SharkAPI",
    "SharkAPIError",
    "SpendCap",
    "SpendCapExceededError",
    "SubmissionOutcomeUnknownError",
    "UnexpectedResponseError",
    "WaitTimeoutError",
    "__version__",
    "aiohttp_http_client",
    "check_generate_request",
    "check_job_id",
    "check_prompts",
    "decode_image",
    "encode_image",
    "format_amount",
    "format_dollars",
    "image_extension",
    "job_outcome",
    "job_status_dict",
    "parse_money",
]
