"""scripts/contract-test prices requests with the spec's prices and never under-counts."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
import sharkapi_spec as spec

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "contract-test"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("contract_test_script", str(SCRIPT))
    module_spec = importlib.util.spec_from_loader(loader.name, loader)
    assert module_spec is not None
    module = importlib.util.module_from_spec(module_spec)
    # Registered while it runs: its dataclasses look their module up in sys.modules.
    sys.modules[loader.name] = module
    try:
        loader.exec_module(module)
    finally:
        del sys.modules[loader.name]
    return module


GENERATE = spec.OPERATIONS["generateImage"]
GET_JOB = spec.OPERATIONS["getJob"]


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize("mode", spec.MODES)
def test_a_submit_costs_its_modes_spec_price(script: ModuleType, mode: str) -> None:
    price = script.price_of(GENERATE["method"], GENERATE["path"], body(prompt="p", mode=mode))
    assert price == spec.MODE_PRICES[mode]


@pytest.mark.parametrize(
    "raw",
    [
        body(prompt="p", mode="16k"),  # a mode the spec does not price
        body(prompt="p"),  # no mode
        b'{"mode": "%s", "mode": "16k"}' % spec.DEFAULT_MODE.encode(),  # duplicate keys
        b"not json",
        b"[1, 2]",
        body(prompt="p", mode=7),
    ],
)
def test_anything_unsure_costs_the_highest_price(script: ModuleType, raw: bytes) -> None:
    price = script.price_of(GENERATE["method"], GENERATE["path"], raw)
    assert price == spec.MAX_MODE_PRICE == max(spec.MODE_PRICES.values())


def test_free_operations_and_reads_cost_nothing(script: ModuleType) -> None:
    path = GET_JOB["path"].replace("{job_id}", "job_1")
    assert script.price_of(GET_JOB["method"], path, b"") == Decimal(0)
    assert script.price_of("GET", "/v1/unknown", b"") == Decimal(0)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_to_an_unknown_path_costs_the_highest_price(
    script: ModuleType, method: str
) -> None:
    assert script.price_of(method, "/v1/generate/", body(mode=spec.DEFAULT_MODE)) == (
        spec.MAX_MODE_PRICE
    )


def test_an_unpriced_paid_operation_costs_the_highest_price(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after a regenerated spec adds a paid operation that has no mode.
    upscale = {**GENERATE, "operation_id": "upscaleImage", "path": "/v1/jobs/{job_id}/upscale"}
    monkeypatch.setattr(
        script,
        "ROUTES",
        [*script.ROUTES, ("POST", re.compile(r"/v1/jobs/[^/]+/upscale"), upscale)],
    )
    price = script.price_of("POST", "/v1/jobs/job_1/upscale", body(scale=2))
    assert price == spec.MAX_MODE_PRICE
