"""The hand-written `SharkAPI` and `AsyncSharkAPI` against Prism serving openapi.yaml.

Prism validates our requests against the spec (a bad body would be 422) and answers from
the spec's examples, so this shows the SDK and the spec agree without our sandbox. Every
documented error status, chosen with `Prefer: code=NNN`, must raise its own class.
`max_retries=0` and a sleep that fails the test keep 429/503 from being retried.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sharkapi_ext import (
    AsyncSharkAPI,
    AuthenticationError,
    BadRequestError,
    InsufficientBalanceError,
    Job,
    JobStatus,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    SharkAPI,
)

pytestmark = pytest.mark.node

JOB_ID = "job_8f2a9d3c"
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)
SUBMIT_ERRORS = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    422: ModerationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}
GET_ERRORS = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"retried after {seconds} s with max_retries=0")


def sync_client(url: str, prefer: str | None, stack: list[Any]) -> SharkAPI:
    http = httpx.Client(headers={"Prefer": prefer} if prefer else {})
    api = SharkAPI("sk_test_prism", base_url=url, http_client=http, max_retries=0, sleep=no_sleep)
    stack += [api, http]
    return api


def close(stack: list[Any]) -> None:
    for thing in stack:
        thing.close()


def test_sync_submit_and_get_job(prism_url: str) -> None:
    stack: list[Any] = []
    try:
        api = sync_client(prism_url, None, stack)
        job = api.submit("a great white shark", mode="2k")
        assert isinstance(job, Job)
        assert job.job_id == JOB_ID
        assert job.estimated_cost == Decimal("0.02")
        again = api.submit("watercolor", mode="2k", image=PNG_1X1, image_strength=0.6)
        assert again.job_id == JOB_ID
        status = api.get_job(job)
        assert isinstance(status, JobStatus)
        assert status.job_id == JOB_ID
        assert status.status == "processing"
        done = sync_client(prism_url, "example=complete", stack).get_job(JOB_ID)
        assert done.is_complete
        assert done.cost == Decimal("0.02")
    finally:
        close(stack)


DOCUMENTED_ERRORS = [
    *(("submit", code, error) for code, error in sorted(SUBMIT_ERRORS.items())),
    *(("get_job", code, error) for code, error in sorted(GET_ERRORS.items())),
]


@pytest.mark.parametrize(("operation", "code", "error"), DOCUMENTED_ERRORS)
def test_sync_documented_errors(prism_url: str, operation: str, code: int, error: type) -> None:
    stack: list[Any] = []
    try:
        api = sync_client(prism_url, f"code={code}", stack)
        call = (
            (lambda: api.submit("a shark", mode="1k"))
            if operation == "submit"
            else (lambda: api.get_job(JOB_ID))
        )
        with pytest.raises(error) as caught:
            call()
        assert type(caught.value) is error
        assert caught.value.status_code == code
        if operation == "submit":
            assert caught.value.code  # the example's error.code was parsed
            if code in (429, 503):
                assert caught.value.retry_after is not None
        else:
            assert caught.value.job_id == JOB_ID
    finally:
        close(stack)


def test_async_twin_against_prism(prism_url: str) -> None:
    async def no_async_sleep(seconds: float) -> None:
        raise AssertionError(f"retried after {seconds} s with max_retries=0")

    async def main() -> None:
        async with httpx.AsyncClient() as http:
            async with AsyncSharkAPI(
                "sk_test_prism",
                base_url=prism_url,
                http_client=http,
                max_retries=0,
                sleep=no_async_sleep,
            ) as api:
                job = await api.submit("a shark", mode="1k")
                assert job.job_id == JOB_ID
                status = await api.get_job(job)
                assert status.status == "processing"
        for code, error in {**SUBMIT_ERRORS, **GET_ERRORS}.items():
            async with httpx.AsyncClient(headers={"Prefer": f"code={code}"}) as http:
                async with AsyncSharkAPI(
                    "sk_test_prism",
                    base_url=prism_url,
                    http_client=http,
                    max_retries=0,
                    sleep=no_async_sleep,
                ) as api:
                    if code in SUBMIT_ERRORS:
                        with pytest.raises(SUBMIT_ERRORS[code]):
                            await api.submit("a shark", mode="1k")
                    if code in GET_ERRORS:
                        with pytest.raises(error):
                            await api.get_job(JOB_ID)

    asyncio.run(main())
