"""client.call: any generated operation through the SDK's token, retries and errors."""

from __future__ import annotations

import httpx
import pytest
from client_helpers import JOB_ID, TOKEN, Twin, accepted, error, polled
from sharkapi_client.api.generation import generate_image, get_job
from sharkapi_client.models import GenerateRequest, Mode
from sharkapi_client.models import Job as JobModel
from sharkapi_client.models import JobStatus as JobStatusModel

import sharkapi_ext as sdk


@pytest.mark.parametrize("operation", [get_job, "getJob"])
def test_call_runs_a_generated_read_with_the_token(twin: Twin, operation: object) -> None:
    twin.script.add(polled("processing"))
    model = twin().call(operation, job_id=JOB_ID)
    assert isinstance(model, JobStatusModel)
    assert model.job_id == JOB_ID
    [request] = twin.script.requests
    assert request.method == "GET"
    assert request.url.path == f"/v1/jobs/{JOB_ID}"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_call_retries_a_free_operation_like_a_read(twin: Twin) -> None:
    twin.script.add(httpx.ReadTimeout, error(503), polled("queued"))
    model = twin().call("getJob", job_id=JOB_ID)
    assert model.status == "queued"
    assert twin.script.count("GET") == 3


def test_call_never_retries_a_paid_operation_that_may_have_been_received(twin: Twin) -> None:
    twin.script.add(httpx.ReadTimeout)
    body = GenerateRequest(prompt="a shark", mode=Mode(sdk.DEFAULT_MODE))
    with pytest.raises(sdk.SubmissionOutcomeUnknownError):
        twin().call(generate_image, body=body)
    assert twin.script.count("POST") == 1


def test_call_sends_a_paid_operation_once_and_parses_it(twin: Twin) -> None:
    twin.script.add(error(429, headers={"Retry-After": "1"}), accepted())
    body = GenerateRequest(prompt="a shark", mode=Mode(sdk.DEFAULT_MODE))
    model = twin().call("generateImage", body=body)
    assert isinstance(model, JobModel)
    assert twin.script.requests[-1].json() == {"prompt": "a shark", "mode": sdk.DEFAULT_MODE}


def test_call_maps_error_statuses_to_sdk_exceptions(twin: Twin) -> None:
    twin.script.add(error(404, "not_found"))
    with pytest.raises(sdk.NotFoundError):
        twin().call("getJob", job_id=JOB_ID)


def test_call_answer_that_does_not_parse_is_a_typed_error(twin: Twin) -> None:
    twin.script.add(httpx.Response(200, json={"job_id": JOB_ID}))
    with pytest.raises(sdk.UnexpectedResponseError):
        twin().call("getJob", job_id=JOB_ID)


@pytest.mark.parametrize(
    ("operation", "kwargs", "match"),
    [
        ("cancelJob", {}, "no generated operation"),
        ("getJob", {"jobid": JOB_ID}, "unexpected keyword"),
        (42, {}, "expected a sharkapi_client.api module"),
    ],
)
def test_call_refuses_bad_operations_before_sending(
    twin: Twin, operation: object, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(sdk.InvalidRequestError, match=match):
        twin().call(operation, **kwargs)
    assert twin.script.requests == []
