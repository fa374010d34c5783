"""Fault injection: each fault by header, by rate, at run time, and the drop after create."""

from __future__ import annotations

import time

import httpx
import pytest
from sandbox_helpers import FakeClock, conforms

from sharkapi_ext.sandbox import DroppedConnection, Sandbox, SandboxConfig, SandboxState

pytestmark = pytest.mark.anyio
BODY = {"prompt": "p", "mode": "1k"}


def fault(name: str) -> dict[str, str]:
    return {"X-Sandbox-Fault": name}


@pytest.mark.parametrize(
    ("name", "status", "code", "retry_after"),
    [
        ("429", 429, "rate_limited", "1"),
        ("429;retry-after=7", 429, "rate_limited", "7"),
        ("503", 503, "service_unavailable", "1"),
        ("503; Retry-After=4", 503, "service_unavailable", "4"),
        ("503-no-retry-after", 503, "service_unavailable", None),
    ],
)
async def test_429_and_503_come_before_any_job(
    api: httpx.AsyncClient,
    state: SandboxState,
    name: str,
    status: int,
    code: str,
    retry_after: str | None,
) -> None:
    for response in (
        await api.post("/v1/generate", json=BODY, headers=fault(name)),
        await api.get("/v1/jobs/job_1", headers=fault(name)),
    ):
        assert response.status_code == status
        conforms(response.json(), "Error")
        assert response.json()["error"]["code"] == code
        assert response.headers.get("retry-after") == retry_after
    assert state.submissions() == []


@pytest.mark.parametrize("status", [500, 502])
async def test_html_error_pages(api: httpx.AsyncClient, state: SandboxState, status: int) -> None:
    post = await api.post("/v1/generate", json=BODY, headers=fault(str(status)))
    assert post.status_code == status
    assert post.headers["content-type"].startswith("text/html")
    assert "<html>" in post.text
    # The proxy failed after the upstream accepted the job: it exists and is not to be retried.
    assert len(state.submissions()) == 1
    get = await api.get(f"/v1/jobs/{state.submissions()[0].job_id}", headers=fault(str(status)))
    assert get.status_code == status
    assert get.headers["content-type"].startswith("text/html")


async def test_bad_schema_and_wrong_status(api: httpx.AsyncClient) -> None:
    post = await api.post("/v1/generate", json=BODY, headers=fault("bad-schema, wrong-status"))
    assert post.status_code == 200
    assert post.json()["estimated_cost"] == 0.01
    job_id = post.json()["job_id"]
    get = await api.get(f"/v1/jobs/{job_id}", headers=fault("bad-schema"))
    assert get.json()["estimated_cost"] == 0.01
    assert (await api.post("/v1/generate", json=BODY, headers=fault("wrong-status"))).json()[
        "estimated_cost"
    ] == "$0.01"


async def test_slow(api: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await api.post("/v1/generate", json=BODY, headers=fault("slow;seconds=0.2"))
    assert response.status_code == 202
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("header", ["teapot", "429;bogus=1", "slow;seconds=x", "slow;seconds=-1"])
async def test_bad_fault_header_is_400(api: httpx.AsyncClient, header: str) -> None:
    response = await api.post("/v1/generate", json=BODY, headers=fault(header))
    assert response.status_code == 400
    assert "X-Sandbox-Fault" in response.json()["error"]["message"]


async def test_faults_never_touch_admin_endpoints(api: httpx.AsyncClient) -> None:
    response = await api.get("/_sandbox/ledger", headers=fault("503"))
    assert response.status_code == 200


async def test_drop_after_create_in_process(api: httpx.AsyncClient, state: SandboxState) -> None:
    with pytest.raises(httpx.RemoteProtocolError) as info:
        await api.post("/v1/generate", json=BODY, headers=fault("drop-after-create"))
    assert isinstance(info.value, DroppedConnection)
    assert len(state.submissions()) == 1
    assert state.requests()[-1].status == 0


def test_drop_after_create_over_http(clocked_sandbox: Sandbox, clock: FakeClock) -> None:
    sandbox = clocked_sandbox
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
            client.post("/v1/generate", json=BODY, headers=fault("drop-after-create"))
        [submission] = sandbox.submissions()
        assert sandbox.ledger() == []  # not done yet
        # The dropped job runs to the end and is charged like any other.
        clock.advance(1)
        assert [c.job_id for c in sandbox.ledger()] == [submission.job_id]
        # The server is still healthy afterwards.
        assert client.post("/v1/generate", json=BODY).status_code == 202


def test_drop_does_not_apply_to_failed_posts(client: httpx.Client) -> None:
    response = client.post("/v1/generate", json={"mode": "1k"}, headers=fault("drop-after-create"))
    assert response.status_code == 400


async def test_rates_and_runtime_changes(api: httpx.AsyncClient, state: SandboxState) -> None:
    state.set_faults(rate_429=1.0, retry_after_seconds=3)
    response = await api.post("/v1/generate", json=BODY)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    changed = await api.post("/_sandbox/faults", json={"rate_429": 0, "rate_503": 1.0})
    assert changed.json()["faults"]["rate_503"] == 1.0
    assert (await api.post("/v1/generate", json=BODY)).status_code == 503
    state.set_faults(rate_503=0, rate_502=1.0)
    assert (await api.get("/v1/jobs/job_1")).status_code == 502
    state.set_faults(rate_502=0, wrong_status=True)
    assert (await api.post("/v1/generate", json=BODY)).status_code == 200
    bad = await api.post("/_sandbox/faults", json={"rate_429": 2})
    assert bad.status_code == 400
    bad = await api.post("/_sandbox/faults", json={"queued_seconds": 2})
    assert bad.status_code == 400


async def test_seeded_rates_are_reproducible(clock: FakeClock) -> None:
    from sharkapi_ext.sandbox import create_app

    async def run() -> list[int]:
        config = SandboxConfig(seed=7, rate_503=0.5, rate_503_retry_after_fraction=0.5)
        app = create_app(state=SandboxState(config, clock=clock))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1",
            headers={"Authorization": "Bearer sk_test_x"},
        ) as client:
            out = []
            for _ in range(40):
                response = await client.get("/v1/jobs/job_1")
                out.append(response.status_code * 10 + ("retry-after" in response.headers))
            return out

    first, second = await run(), await run()
    assert first == second
    assert {404 * 10, 503 * 10, 503 * 10 + 1} == set(first)


async def test_rate_limit_per_token(
    api: httpx.AsyncClient, state: SandboxState, clock: FakeClock
) -> None:
    state.set_faults(rate_limit_per_second=2, retry_after_seconds=1)
    statuses = [(await api.get("/v1/jobs/job_1")).status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    other = await api.get("/v1/jobs/job_1", headers={"Authorization": "Bearer sk_test_other"})
    assert other.status_code == 404
    limited = await api.post("/v1/generate", json=BODY)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert state.submissions() == []
    clock.advance(1.01)
    assert (await api.post("/v1/generate", json=BODY)).status_code == 202
