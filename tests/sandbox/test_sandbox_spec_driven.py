"""The sandbox takes its limits, prices, sizes and lifecycle from the spec (sharkapi_spec)."""

from __future__ import annotations

import copy
from decimal import Decimal
from types import MappingProxyType

import httpx
import pytest
import sharkapi_spec as spec
from sandbox_helpers import TOKEN, FakeClock, conforms, money

from sharkapi_ext.sandbox import SandboxState, _state, _validation
from sharkapi_ext.sandbox._records import Job, format_money

pytestmark = pytest.mark.anyio

DONE = 3.5  # past the fixture's 1 s queued + 2 s processing


async def test_prompt_limit_is_the_specs(api: httpx.AsyncClient) -> None:
    mode = spec.DEFAULT_MODE
    ok = await api.post("/v1/generate", json={"prompt": "x" * spec.PROMPT_MAX_LENGTH, "mode": mode})
    assert ok.status_code == 202
    over = "x" * (spec.PROMPT_MAX_LENGTH + 1)
    bad = await api.post("/v1/generate", json={"prompt": over, "mode": mode})
    assert bad.status_code == 400
    assert str(spec.PROMPT_MAX_LENGTH) in bad.json()["error"]["message"]


@pytest.mark.parametrize("mode", spec.MODES)
async def test_each_mode_costs_its_spec_price(
    api: httpx.AsyncClient, clock: FakeClock, mode: str
) -> None:
    job = (await api.post("/v1/generate", json={"prompt": "p", "mode": mode})).json()
    assert money(job["estimated_cost"]) == spec.MODE_PRICES[mode]
    clock.advance(DONE)
    done = (await api.get(f"/v1/jobs/{job['job_id']}")).json()
    assert done["status"] == spec.SUCCESS_STATUS
    assert money(done["cost"]) == spec.MODE_PRICES[mode]


async def test_a_terminal_status_marker_ends_the_job_with_it(
    api: httpx.AsyncClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after a regenerated spec that adds the terminal status `cancelled`.
    from sharkapi_ext.sandbox import _app, _records, _responses

    for module in (_state, _records, _app, _responses):
        monkeypatch.setattr(module, "TERMINAL_STATUSES", spec.TERMINAL_STATUSES | {"cancelled"})
    body = {"prompt": "p [status:cancelled]", "mode": spec.DEFAULT_MODE}
    job = (await api.post("/v1/generate", json=body)).json()
    clock.advance(DONE)
    done = (await api.get(f"/v1/jobs/{job['job_id']}")).json()
    assert done["status"] == "cancelled"
    assert done["error"]["code"] == "job_cancelled"
    assert done["cost"] == "$0.00"
    assert done["image_url"] is None


@pytest.fixture
def seed_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec as a later release might have it: an optional integer `later_seed` field."""
    schema = copy.deepcopy(dict(spec.GENERATE_REQUEST_SCHEMA))
    schema["properties"]["later_seed"] = {"type": "integer", "minimum": 0}
    monkeypatch.setattr(spec, "GENERATE_REQUEST_SCHEMA", MappingProxyType(schema))
    monkeypatch.setattr(
        spec, "GENERATE_REQUEST_FIELDS", (*spec.GENERATE_REQUEST_FIELDS, "later_seed")
    )
    _validation._schema_validator.cache_clear()
    yield
    _validation._schema_validator.cache_clear()


@pytest.mark.usefixtures("seed_field")
async def test_a_field_the_spec_declares_is_accepted_and_checked(api: httpx.AsyncClient) -> None:
    mode = spec.DEFAULT_MODE
    ok = await api.post("/v1/generate", json={"prompt": "p", "mode": mode, "later_seed": 4})
    assert ok.status_code == 202, ok.text
    conforms(ok.json(), "Job")
    bad = await api.post("/v1/generate", json={"prompt": "p", "mode": mode, "later_seed": -1})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("later_seed:")


async def test_a_field_the_spec_does_not_declare_is_400(api: httpx.AsyncClient) -> None:
    bad = await api.post(
        "/v1/generate", json={"prompt": "p", "mode": spec.DEFAULT_MODE, "undeclared": 4}
    )
    assert bad.status_code == 400
    assert "unknown field 'undeclared'" in bad.json()["error"]["message"]


def test_an_unpriced_mode_is_charged_the_highest_price(state: SandboxState) -> None:
    # regenerate refuses a mode without a price; the state still never charges nothing.
    wallet = state.wallet(TOKEN)
    assert wallet is not None
    job = state.submit(wallet, prompt="p", mode="16k", image=None, image_strength=None)
    assert isinstance(job, Job)
    assert job.price == spec.MAX_MODE_PRICE == max(spec.MODE_PRICES.values())


@pytest.mark.parametrize(
    ("amount", "text"),
    [("0.01", "$0.01"), ("0", "$0.00"), ("0.005", "$0.005"), ("12.5", "$12.50"), ("3", "$3.00")],
)
def test_money_keeps_sub_cent_prices(amount: str, text: str) -> None:
    assert format_money(Decimal(amount)) == text
