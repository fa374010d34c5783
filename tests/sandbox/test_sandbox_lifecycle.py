"""Job lifecycle, bodies, auth and ids, in process on a fake clock."""

from __future__ import annotations

import re

import httpx
import pytest
from sandbox_helpers import FakeClock, conforms
from sharkapi_spec import JOB_STATUS_FIELDS

from sharkapi_ext.sandbox import SandboxState

pytestmark = pytest.mark.anyio


async def submit(api: httpx.AsyncClient, prompt: str = "a shark", mode: str = "1k") -> str:
    response = await api.post("/v1/generate", json={"prompt": prompt, "mode": mode})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


async def test_submit_answers_202_job(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/generate", json={"prompt": "a shark", "mode": "2k"})
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert re.fullmatch(r"req_[0-9a-f]{16}", response.headers["x-request-id"])
    body = response.json()
    conforms(body, "Job")
    assert set(body) == {"job_id", "status", "estimated_cost", "poll_url", "created_at"}
    assert re.fullmatch(r"job_[0-9a-f]{16}", body["job_id"])
    assert body["status"] == "queued"
    assert body["estimated_cost"] == "$0.02"
    assert body["poll_url"] == f"http://127.0.0.1:8000/v1/jobs/{body['job_id']}"


async def test_lifecycle_queued_processing_complete(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    job_id = await submit(api)
    seen = []
    for step in (0.0, 0.5, 1.0, 1.0, 1.0):
        clock.advance(step)
        response = await api.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200
        body = response.json()
        conforms(body, "JobStatus")
        assert set(body) == set(JOB_STATUS_FIELDS)  # every field the spec names, no more
        seen.append(body["status"])
        if body["status"] == "queued":
            assert body["updated_at"] is None
        else:
            assert body["updated_at"] is not None
        if body["status"] != "complete":
            assert body["cost"] is None
            assert body["image_url"] is None
        assert body["error"] is None
    assert seen == ["queued", "queued", "processing", "processing", "complete"]
    assert body["cost"] == "$0.01"
    assert body["image_url"] == f"http://localhost:8000/_sandbox/images/{job_id}.png"
    assert body["poll_url"] == f"http://127.0.0.1:8000/v1/jobs/{job_id}"


@pytest.mark.parametrize(
    ("prompt", "status", "code"),
    [
        ("a shark [fail]", "failed", "generation_failed"),
        ("a [MODERATE] shark", "moderated", "content_moderated"),
    ],
)
async def test_marker_words_end_badly(
    api: httpx.AsyncClient, clock: FakeClock, prompt: str, status: str, code: str
) -> None:
    job_id = await submit(api, prompt, "2k")
    clock.advance(1.5)
    assert (await api.get(f"/v1/jobs/{job_id}")).json()["status"] == "processing"
    clock.advance(2)
    body = (await api.get(f"/v1/jobs/{job_id}")).json()
    conforms(body, "JobStatus")
    assert body["status"] == status
    assert body["error"]["code"] == code
    assert body["cost"] == "$0.00"
    assert body["image_url"] is None


async def test_blocked_marker_is_422_and_creates_nothing(
    api: httpx.AsyncClient, state: SandboxState
) -> None:
    response = await api.post("/v1/generate", json={"prompt": "x [blocked] y", "mode": "1k"})
    assert response.status_code == 422
    conforms(response.json(), "Error")
    assert response.json()["error"]["code"] == "moderation_rejected"
    assert state.submissions() == []


async def test_unknown_and_foreign_jobs_are_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/jobs/job_0000000000000000")
    assert response.status_code == 404
    conforms(response.json(), "Error")
    assert response.json()["error"]["code"] == "not_found"
    job_id = await submit(api)
    other = await api.get(f"/v1/jobs/{job_id}", headers={"Authorization": "Bearer sk_test_other"})
    assert other.status_code == 404


async def test_malformed_job_id_is_400(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/jobs/job%20with%20space")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "job_id" in response.json()["error"]["message"]
    assert (await api.get("/v1/jobs/" + "a" * 129)).status_code == 400


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Token sk_test_x", "Bearer ???"],
)
async def test_missing_or_malformed_token_is_401(
    api: httpx.AsyncClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    api.headers.pop("Authorization")
    for response in (
        await api.post("/v1/generate", json={"prompt": "p", "mode": "1k"}, headers=headers),
        await api.get("/v1/jobs/job_0000000000000000", headers=headers),
    ):
        assert response.status_code == 401
        conforms(response.json(), "Error")
        assert response.json()["error"]["code"] == "unauthorized"


async def test_unknown_tokens(api: httpx.AsyncClient, state: SandboxState) -> None:
    unknown = await api.post(
        "/v1/generate",
        json={"prompt": "p", "mode": "1k"},
        headers={"Authorization": "Bearer sk_live_nobody"},
    )
    assert unknown.status_code == 401
    auto = await api.post(
        "/v1/generate",
        json={"prompt": "p", "mode": "1k"},
        headers={"Authorization": "Bearer sk_test_anyone"},
    )
    assert auto.status_code == 202
    assert state.balance("sk_test_anyone") == state.config.default_balance


async def test_revoked_token_is_403(api: httpx.AsyncClient, state: SandboxState) -> None:
    state.add_token("sk_test_revoked", revoked=True)
    headers = {"Authorization": "Bearer sk_test_revoked"}
    response = await api.post("/v1/generate", json={"prompt": "p", "mode": "1k"}, headers=headers)
    assert response.status_code == 403
    conforms(response.json(), "Error")
    assert response.json()["error"]["code"] == "forbidden"
    assert (await api.get("/v1/jobs/job_1", headers=headers)).status_code == 403


async def test_poll_url_follows_the_request_host(state: SandboxState) -> None:
    from sharkapi_ext.sandbox import create_app

    transport = httpx.ASGITransport(app=create_app(state=state))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://api.example.test",
        headers={"Authorization": "Bearer sk_test_sandbox"},
    ) as client:
        body = (await client.post("/v1/generate", json={"prompt": "p", "mode": "1k"})).json()
        assert body["poll_url"].startswith("http://api.example.test/v1/jobs/job_")


async def test_admin_submissions_and_requests(api: httpx.AsyncClient, clock: FakeClock) -> None:
    job_id = await submit(api, "hello [fail]")
    clock.advance(5)
    subs = (await api.get("/_sandbox/submissions")).json()["submissions"]
    assert [
        (s["job_id"], s["prompt"], s["mode"], s["final_status"], s["status"]) for s in subs
    ] == [(job_id, "hello [fail]", "1k", "failed", "failed")]
    log = (await api.get("/_sandbox/requests")).json()["requests"]
    assert log[0]["method"] == "POST"
    assert log[0]["path"] == "/v1/generate"
    assert log[0]["status"] == 202
    assert log[0]["has_authorization"] is True
    assert "sk_test" not in str(log)
