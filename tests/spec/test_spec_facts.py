"""generated/sharkapi_spec: the contract's names, read from openapi.yaml, stdlib only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import sharkapi_spec as facts
from spec_helpers import ROOT, load_spec

# The names every consumer may rely on (/work/briefs/facts-contract.md).
CONTRACT = {
    "MODES": tuple,
    "MODE_PRICES": object,
    "MODE_SIZES": object,
    "DEFAULT_MODE": str,
    "PROMPT_MIN_LENGTH": int,
    "PROMPT_MAX_LENGTH": int,
    "IMAGE_MAX_BYTES": int,
    "IMAGE_MAX_BASE64_LENGTH": int,
    "IMAGE_BASE64_PATTERN": str,
    "IMAGE_STRENGTH_MIN": float,
    "IMAGE_STRENGTH_MAX": float,
    "IMAGE_STRENGTH_DEFAULT": float,
    "JOB_STATUSES": tuple,
    "TERMINAL_STATUSES": frozenset,
    "CHARGED_STATUSES": frozenset,
    "SUCCESS_STATUS": str,
    "POLL_INTERVAL_SECONDS": float,
    "SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS": float,
    "GENERATE_REQUEST_SCHEMA": object,
    "JOB_STATUS_SCHEMA": object,
    "GENERATE_REQUEST_FIELDS": tuple,
    "JOB_STATUS_FIELDS": tuple,
    "OPERATIONS": object,
}


def test_every_contract_name_is_exported_with_its_type() -> None:
    for name, kind in CONTRACT.items():
        assert name in facts.__all__, name
        assert isinstance(getattr(facts, name), kind), name


def test_facts_agree_with_the_spec_document() -> None:
    spec = load_spec()
    schemas = spec["components"]["schemas"]
    assert list(facts.MODES) == schemas["Mode"]["enum"]
    for mode, entry in schemas["Mode"]["x-sharkapi-modes"].items():
        assert facts.MODE_PRICES[mode] == Decimal(entry["price"].removeprefix("$"))
        assert facts.MODE_SIZES[mode] == (entry["width"], entry["height"])
    assert facts.MODE_PRICES[facts.DEFAULT_MODE] == min(facts.MODE_PRICES.values())
    request = schemas["GenerateRequest"]["properties"]
    assert request["prompt"]["maxLength"] == facts.PROMPT_MAX_LENGTH
    assert request["image"]["maxLength"] == facts.IMAGE_MAX_BASE64_LENGTH
    assert request["image_strength"]["default"] == facts.IMAGE_STRENGTH_DEFAULT
    assert list(facts.GENERATE_REQUEST_FIELDS) == list(request)
    assert facts.SUCCESS_STATUS in facts.TERMINAL_STATUSES
    assert facts.CHARGED_STATUSES <= facts.TERMINAL_STATUSES
    # $refs are resolved: the mode property carries the enum itself.
    assert facts.GENERATE_REQUEST_SCHEMA["properties"]["mode"]["enum"] == list(facts.MODES)
    assert "$ref" not in repr(facts.JOB_STATUS_SCHEMA)
    spec_ops = {
        op["operationId"]
        for item in spec["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert set(facts.OPERATIONS) == spec_ops
    assert facts.OPERATIONS["generateImage"]["paid"] is True
    assert facts.OPERATIONS["getJob"]["paid"] is False


def test_the_module_imports_only_the_standard_library() -> None:
    code = (
        "import sys, sharkapi_spec; "
        "bad = [m for m in ('httpx', 'attrs', 'sharkapi_client', 'sharkapi_ext', 'yaml') "
        "if m in sys.modules]; print(bad)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_regenerate_refuses_a_mode_without_price_and_size(tmp_path: Path) -> None:
    shutil.copy2(ROOT / "openapi.yaml", tmp_path / "openapi.yaml")
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("node"))
    spec = tmp_path / "openapi.yaml"
    text = spec.read_text(encoding="utf-8")
    old = 'enum: ["'  # the first enum of the file is the Mode schema's
    assert text.index(old) > text.index("    Mode:")
    spec.write_text(text.replace(old, 'enum: ["4k", "', 1), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(tmp_path / "scripts" / "regenerate"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0
    assert "x-sharkapi-modes" in done.stderr
    assert "4k" in done.stderr
