"""The generated low-level client against Prism serving openapi.yaml.

Prism is a third-party implementation of the spec, so these tests show that the spec
and the generated client agree without trusting our own sandbox: every answer
Prism builds from the spec's examples parses into the model the spec names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sharkapi_client import AuthenticatedClient, Client
from sharkapi_client.api.generation import generate_image, get_job
from sharkapi_client.models import Error, GenerateRequest, Job, JobStatus, Mode

pytestmark = pytest.mark.node

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text("utf-8"))
GENERATE = SPEC["paths"]["/v1/generate"]["post"]
GET_JOB = SPEC["paths"]["/v1/jobs/{job_id}"]["get"]
JOB_ID = "job_8f2a9d3c"


def response(operation: dict[str, Any], status: str) -> dict[str, Any]:
    node = operation["responses"][status]
    if "$ref" in node:
        target: Any = SPEC
        for token in node["$ref"][2:].split("/"):
            target = target[token]
        node = target
    return node


def examples(operation: dict[str, Any], status: str) -> dict[str, Any]:
    media = response(operation, status)["content"]["application/json"]
    return {name: example["value"] for name, example in media["examples"].items()}


def error_statuses(operation: dict[str, Any]) -> list[int]:
    return sorted(int(status) for status in operation["responses"] if status[0] in "45")


@pytest.fixture
def connect(prism_url: str) -> Iterator[Callable[..., AuthenticatedClient]]:
    """Open clients on Prism, each with its own headers; all are closed at teardown.

    A fresh client per header set, not `with_headers()`: in openapi-python-client
    0.29.1 that adds the headers to the *original* client's open httpx.Client as well,
    and returns a copy whose own httpx.Client nobody closes.
    """
    with ExitStack() as stack:

        def open_client(prefer: str | None = None) -> AuthenticatedClient:
            headers = {"Prefer": prefer} if prefer else {}
            c = AuthenticatedClient(
                base_url=prism_url,
                token="sk_test_prism",
                headers=headers,
                timeout=httpx.Timeout(10.0),
            )
            return stack.enter_context(c)

        yield open_client


def text_to_image() -> GenerateRequest:
    return GenerateRequest(prompt="A great white shark, cinematic", mode=Mode.TWO_K)


def test_submit_returns_202_parsed_to_job(connect: Callable[..., AuthenticatedClient]) -> None:
    resp = generate_image.sync_detailed(client=connect(), body=text_to_image())
    assert resp.status_code == HTTPStatus.ACCEPTED
    assert isinstance(resp.parsed, Job)
    assert resp.parsed.job_id == JOB_ID
    assert resp.parsed.status == "queued"
    assert resp.parsed.created_at.tzinfo is not None
    assert Job.from_dict(examples(GENERATE, "202")["queued"]) == resp.parsed


def test_image_to_image_submit_is_accepted(connect: Callable[..., AuthenticatedClient]) -> None:
    request_examples = GENERATE["requestBody"]["content"]["application/json"]["examples"]
    body = GenerateRequest.from_dict(dict(request_examples["image_to_image"]["value"]))
    resp = generate_image.sync_detailed(client=connect(), body=body)
    assert resp.status_code == HTTPStatus.ACCEPTED, resp.content
    assert isinstance(resp.parsed, Job)


@pytest.mark.parametrize("example", sorted(examples(GET_JOB, "200")))
def test_get_job_returns_200_parsed_to_job_status(
    connect: Callable[..., AuthenticatedClient], example: str
) -> None:
    resp = get_job.sync_detailed(JOB_ID, client=connect(f"example={example}"))
    assert resp.status_code == HTTPStatus.OK
    assert isinstance(resp.parsed, JobStatus)
    assert resp.parsed == JobStatus.from_dict(examples(GET_JOB, "200")[example])
    assert resp.parsed.status == example


@pytest.mark.parametrize("status", error_statuses(GENERATE))
def test_submit_documented_error_parses_to_error(
    connect: Callable[..., AuthenticatedClient], status: int
) -> None:
    resp = generate_image.sync_detailed(client=connect(f"code={status}"), body=text_to_image())
    assert resp.status_code == status
    assert isinstance(resp.parsed, Error)
    assert resp.parsed.to_dict() in examples(GENERATE, str(status)).values()
    if status in (429, 503):
        assert "Retry-After" in resp.headers


@pytest.mark.parametrize("status", error_statuses(GET_JOB))
def test_get_job_documented_error_parses_to_error(
    connect: Callable[..., AuthenticatedClient], status: int
) -> None:
    resp = get_job.sync_detailed(JOB_ID, client=connect(f"code={status}"))
    assert resp.status_code == status
    assert isinstance(resp.parsed, Error)
    assert resp.parsed.to_dict() in examples(GET_JOB, str(status)).values()
    if status in (429, 503):
        assert "Retry-After" in resp.headers


def test_prism_enforces_the_spec_on_requests(prism_url: str) -> None:
    # Prism judges our requests too: no token is a 401, a bad mode a 422 from its validator.
    with Client(base_url=prism_url, timeout=httpx.Timeout(10.0)) as anonymous:
        resp = get_job.sync_detailed(JOB_ID, client=anonymous)
    assert resp.status_code == HTTPStatus.UNAUTHORIZED
    bad = httpx.post(
        f"{prism_url}/v1/generate",
        json={"prompt": "x", "mode": "4k"},
        headers={"Authorization": "Bearer sk_test_prism"},
        timeout=10,
    )
    assert bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
