"""Helpers shared by the sandbox tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import base64
import io
import pathlib
from decimal import Decimal
from typing import Any

import jsonschema
import yaml
from PIL import Image

from sharkapi_ext.sandbox import SandboxConfig

TOKEN = "sk_test_sandbox"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPEC_PATH = pathlib.Path(__file__).resolve().parents[2] / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
FAST = SandboxConfig(queued_seconds=0.05, processing_seconds=0.1)


def conforms(body: Any, schema_name: str) -> None:
    """Assert that `body` validates against components/schemas/<schema_name> of openapi.yaml."""
    root = {**SPEC, "$ref": f"#/components/schemas/{schema_name}"}
    jsonschema.Draft202012Validator(
        root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(body)


def png_b64(color: tuple[int, int, int], size: tuple[int, int] = (32, 32), fmt: str = "PNG") -> str:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return base64.b64encode(out.getvalue()).decode()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def money(value: str) -> Decimal:
    assert value.startswith("$")
    return Decimal(value[1:])
