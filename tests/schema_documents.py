"""JSON documents drawn from openapi.yaml's component schemas, for property tests.

schemathesis generates request bodies, not responses; so each component schema is
made the request body of a throw-away operation, and its public `as_strategy()` draws
documents that the schema accepts (positive) or rejects (negative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
import yaml
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

SPEC = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "openapi.yaml").read_text(encoding="utf-8")
)
SCHEMAS = SPEC["components"]["schemas"]


def _operation(name: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"draw{name}",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            },
            "responses": {"200": {"description": "unused"}},
        }
    }


_DOCUMENTS = schemathesis.openapi.from_dict(
    {
        "openapi": SPEC["openapi"],
        "info": {"title": "component schemas of openapi.yaml", "version": "0"},
        "paths": {f"/{name}": _operation(name) for name in SCHEMAS},
        "components": {"schemas": SCHEMAS},
    }
)


def documents(name: str, mode: GenerationMode = GenerationMode.POSITIVE) -> st.SearchStrategy[Any]:
    """Documents the component schema `name` accepts (or, NEGATIVE, rejects)."""
    operation = _DOCUMENTS[f"/{name}"]["POST"]
    return operation.as_strategy(generation_mode=mode).map(lambda case: case.body)
