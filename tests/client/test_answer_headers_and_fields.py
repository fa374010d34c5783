"""Answers carry their headers; a field the SDK reads that disappears fails at once.

Issue 25: a header the vendor adds is usable without an SDK release (`headers`,
`request_id` on `Job` and `JobStatus`), and a renamed or removed response field raises
a typed error naming the spec change at the first answer that lacks it, not when a
download fails later.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sharkapi_spec as spec

from sharkapi_ext import AsyncSharkAPI, SharkAPI, UnexpectedResponseError
from sharkapi_ext.sandbox import Sandbox, SandboxConfig

JOB_ID = "job_fields"
JOB = {
    "job_id": JOB_ID,
    "status": "queued",
    "estimated_cost": "$0.01",
    "poll_url": f"https://api.example/v1/jobs/{JOB_ID}",
    "created_at": "2025-01-01T00:00:00Z",
}
COMPLETE = {
    **JOB,
    "status": spec.SUCCESS_STATUS,
    "mode": spec.DEFAULT_MODE,
    "updated_at": "2025-01-01T00:00:01Z",
    "cost": "$0.01",
    "image_url": "https://cdn.example/x.png",
    "error": None,
}
HEADERS = {"X-Request-Id": "req_42", "X-RateLimit-Remaining": "17"}


def _mocked(job: dict[str, Any], status: dict[str, Any]) -> tuple[SharkAPI, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if request.method == "POST":
            return httpx.Response(202, json=job, headers=HEADERS)
        return httpx.Response(200, json=status, headers=HEADERS)

    client = SharkAPI(
        "sk_test_fields",
        base_url="https://api.example",
        max_retries=0,
        poll_interval=0.01,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    return client, seen


def test_job_and_status_carry_their_answers_headers() -> None:
    client, _ = _mocked(JOB, COMPLETE)
    with client:
        job = client.submit("a shark")
        status = client.get_job(job)
    for answer in (job, status):
        assert answer.request_id == "req_42"
        assert answer.headers["x-ratelimit-remaining"] == "17"  # case-insensitive
        assert answer.headers["X-RateLimit-Remaining"] == "17"
        with pytest.raises(TypeError):
            answer.headers["x-new"] = "1"  # type: ignore[index]
        assert "req_42" not in repr(answer)  # headers stay out of the repr


def test_headers_from_the_sandbox_on_both_twins() -> None:
    with Sandbox(SandboxConfig(queued_seconds=0.02, processing_seconds=0.02)) as sandbox:
        with SharkAPI(sandbox.token, base_url=sandbox.base_url, poll_interval=0.02) as client:
            done = client.generate("a shark", timeout=30)
        ids = {r.request_id for r in sandbox.requests()}
        assert done.request_id in ids
        assert done.headers["content-type"].startswith("application/json")

        async def run() -> None:
            async with AsyncSharkAPI(
                sandbox.token, base_url=sandbox.base_url, poll_interval=0.02
            ) as aclient:
                job = await aclient.submit("a shark")
                assert job.request_id in {r.request_id for r in sandbox.requests()}

        import asyncio

        asyncio.run(run())


def test_a_hand_built_status_has_empty_headers() -> None:
    from sharkapi_ext._models import parse_job_status

    status = parse_job_status(json.dumps(COMPLETE).encode(), 200)
    assert dict(status.headers) == {}
    assert status.request_id is None


@pytest.mark.parametrize("how", ["absent", "null"])
def test_a_complete_job_without_image_url_fails_at_the_first_answer(how: str) -> None:
    status = dict(COMPLETE)
    if how == "absent":
        del status["image_url"]
    else:
        status["image_url"] = None
    client, seen = _mocked(JOB, status)
    with client:
        with pytest.raises(UnexpectedResponseError) as caught:
            client.generate("a shark", timeout=10)
    assert caught.value.job_id == JOB_ID
    assert "image_url" in str(caught.value)
    if how == "absent":
        assert f"openapi.yaml {spec.SPEC_VERSION} declares 'image_url'" in str(caught.value)
    assert seen == ["POST", "GET"]  # the first poll that lacked it, no later


def test_a_required_field_renamed_names_the_spec_change() -> None:
    status = dict(COMPLETE)
    status["job_mode"] = status.pop("mode")
    client, _ = _mocked(JOB, status)
    with client, pytest.raises(UnexpectedResponseError) as caught:
        client.wait(JOB_ID, timeout=10)
    assert "lacks field 'mode'" in str(caught.value)
    assert "declares 'mode' in JobStatus" in str(caught.value)
    assert caught.value.job_id == JOB_ID


def test_a_field_the_regenerated_spec_dropped_is_named_as_a_code_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As after `scripts/regenerate` on a spec that renamed `cost` to `final_cost`.
    renamed = tuple("final_cost" if f == "cost" else f for f in spec.JOB_STATUS_FIELDS)
    monkeypatch.setattr(spec, "JOB_STATUS_FIELDS", renamed)
    status = dict(COMPLETE)
    status["final_cost"] = status.pop("cost")
    client, _ = _mocked(JOB, status)
    with client, pytest.raises(UnexpectedResponseError) as caught:
        client.get_job(JOB_ID)
    message = str(caught.value)
    assert "no longer declares 'cost' in JobStatus" in message
    assert "needs a code change" in message
    assert "final_cost" in message
