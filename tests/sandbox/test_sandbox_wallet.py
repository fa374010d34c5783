"""Wallet rules: charged once per completed job, never for failed or moderated, 402 when short."""

from __future__ import annotations

import threading
from decimal import Decimal

import httpx
import pytest
from sandbox_helpers import FakeClock, money

from sharkapi_ext.sandbox import Sandbox, SandboxState

pytestmark = pytest.mark.anyio


async def post(api: httpx.AsyncClient, prompt: str, mode: str, token: str) -> httpx.Response:
    return await api.post(
        "/v1/generate",
        json={"prompt": prompt, "mode": mode},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_charged_once_only_when_complete(
    api: httpx.AsyncClient, state: SandboxState, clock: FakeClock
) -> None:
    state.add_token("sk_test_w", balance=Decimal("1.00"))
    ok = (await post(api, "fine", "2k", "sk_test_w")).json()["job_id"]
    failed = (await post(api, "no [fail]", "2k", "sk_test_w")).json()["job_id"]
    moderated = (await post(api, "no [moderate]", "1k", "sk_test_w")).json()["job_id"]
    clock.advance(1.5)
    assert state.ledger() == []
    assert state.balance("sk_test_w") == Decimal("1.00")
    clock.advance(2)
    for _ in range(3):  # reading again never charges again
        for job_id in (ok, failed, moderated):
            await api.get(f"/v1/jobs/{job_id}", headers={"Authorization": "Bearer sk_test_w"})
    charges = state.ledger()
    assert [(c.job_id, c.mode, c.amount) for c in charges] == [(ok, "2k", Decimal("0.02"))]
    assert state.balance("sk_test_w") == Decimal("0.98")
    admin = (await api.get("/_sandbox/ledger")).json()["charges"]
    assert [(c["job_id"], c["amount"]) for c in admin] == [(ok, "$0.02")]
    assert admin[0]["account"] == charges[0].account
    assert "sk_test" not in str(admin)


async def test_ledger_settles_without_any_poll(state: SandboxState, api: httpx.AsyncClient) -> None:
    clock = state._clock
    assert isinstance(clock, FakeClock)
    await post(api, "never polled", "1k", "sk_test_sandbox")
    clock.advance(10)
    assert len(state.ledger()) == 1


async def test_402_counts_jobs_in_flight(
    api: httpx.AsyncClient, state: SandboxState, clock: FakeClock
) -> None:
    state.add_token("sk_test_poor", balance=Decimal("0.03"))
    assert (await post(api, "a", "2k", "sk_test_poor")).status_code == 202
    short = await post(api, "b", "2k", "sk_test_poor")
    assert short.status_code == 402
    assert short.json()["error"]["code"] == "insufficient_balance"
    assert "$0.02" in short.json()["error"]["message"]
    assert (await post(api, "c", "1k", "sk_test_poor")).status_code == 202
    assert (await post(api, "d", "1k", "sk_test_poor")).status_code == 402
    clock.advance(10)
    assert state.balance("sk_test_poor") == Decimal("0.00")
    assert (await post(api, "e", "1k", "sk_test_poor")).status_code == 402
    assert len(state.submissions()) == 2


async def test_failed_jobs_release_their_reservation(
    api: httpx.AsyncClient, state: SandboxState, clock: FakeClock
) -> None:
    state.add_token("sk_test_two", balance=Decimal("0.02"))
    assert (await post(api, "x [fail]", "2k", "sk_test_two")).status_code == 202
    assert (await post(api, "y", "2k", "sk_test_two")).status_code == 402
    clock.advance(10)
    assert (await post(api, "y", "2k", "sk_test_two")).status_code == 202
    clock.advance(10)
    assert state.balance("sk_test_two") == Decimal("0.00")


def test_concurrent_polling_charges_each_job_once(
    clocked_sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox = clocked_sandbox
    token = sandbox.token
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers) as client:
        ids = [
            client.post("/v1/generate", json={"prompt": f"p{i}", "mode": "1k"}).json()["job_id"]
            for i in range(20)
        ]
    assert sandbox.ledger() == []
    clock.advance(1)  # FAST timings: every job is complete now, none settled yet
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            barrier.wait()
            with httpx.Client(base_url=sandbox.base_url, headers=headers) as client:
                for job_id in ids:
                    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "complete"
                    sandbox.ledger()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    charges = sandbox.ledger()
    assert sorted(c.job_id for c in charges) == sorted(ids)
    assert sandbox.balance(token) == Decimal("100.00") - Decimal("0.20")
    statuses = {s.job_id: s.status for s in sandbox.submissions()}
    assert set(statuses.values()) == {"complete"}


def test_admin_tokens_endpoint(client: httpx.Client, sandbox: Sandbox) -> None:
    made = client.post("/_sandbox/tokens", json={"token": "sk_live_x", "balance": "0.01"})
    assert made.status_code == 200
    assert made.json()["balance"] == "$0.01"
    assert sandbox.balance("sk_live_x") == Decimal("0.01")
    headers = {"Authorization": "Bearer sk_live_x"}
    assert (
        client.post("/v1/generate", json={"prompt": "p", "mode": "2k"}, headers=headers).json()[
            "error"
        ]["code"]
        == "insufficient_balance"
    )
    client.post("/_sandbox/tokens", json={"token": "sk_live_x", "revoked": True})
    assert (
        client.post("/v1/generate", json={"prompt": "p", "mode": "1k"}, headers=headers).status_code
        == 403
    )
    bad = client.post("/_sandbox/tokens", json={"token": "sk_live_x", "balance": "lots"})
    assert bad.status_code == 400
    assert money("$0.01") == Decimal("0.01")
