"""The tools as an MCP client sees them: schemas from the spec, images back, job ids."""

from __future__ import annotations

import base64
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from mcp_helpers import connect, run, text
from PIL import Image
from sharkapi_spec import MODE_PRICES, MODE_SIZES

from sharkapi_ext.sandbox import Sandbox

pytestmark = pytest.mark.timeout(60)

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text("utf-8"))
SCHEMAS = SPEC["components"]["schemas"]


def _resolve(schema: dict) -> dict:
    ref = schema.get("$ref")
    return SCHEMAS[ref.rsplit("/", 1)[1]] if ref else schema


def test_tools_are_listed_with_the_specs_limits_enums_and_prices(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            listed = {tool.name: tool for tool in (await s.client.list_tools()).tools}
            instructions = s.client.instructions or ""
        assert sorted(listed) == ["generate_image", "get_job", "list_jobs", "wait_for_job"]
        request = SCHEMAS["GenerateRequest"]["properties"]
        # A new request field needs a decision here (the model never writes base64).
        assert set(request) == {"prompt", "mode", "image", "image_strength"}
        gen = listed["generate_image"]
        props = gen.input_schema["properties"]
        # Limits and enums read independently from openapi.yaml.
        assert props["prompt"]["minLength"] == request["prompt"]["minLength"]
        assert props["prompt"]["maxLength"] == request["prompt"]["maxLength"]
        assert props["mode"]["enum"] == _resolve(request["mode"])["enum"]
        assert props["image_strength"]["minimum"] == request["image_strength"]["minimum"]
        assert props["image_strength"]["maximum"] == request["image_strength"]["maximum"]
        assert gen.input_schema["required"] == ["prompt"]  # mode defaults to the cheapest
        assert props["mode"]["default"] == min(MODE_PRICES, key=MODE_PRICES.__getitem__)
        assert gen.input_schema["additionalProperties"] is False
        assert gen.input_schema["dependentRequired"] == {"image_strength": ["image_path"]}
        assert "image" not in props  # the model never writes base64: it names a file
        for name in ("wait_for_job", "get_job"):
            job_id = listed[name].input_schema["properties"]["job_id"]
            assert job_id["pattern"] == SCHEMAS["JobId"]["pattern"]
        # Prices and sizes of every mode, from the spec's facts, in the description.
        for mode, price in MODE_PRICES.items():
            width, height = MODE_SIZES[mode]
            assert f"{mode} = {width}×{height} at ${price:.2f}" in gen.description
        # Written for the model: the spec's maintainer notes stay out.
        for tool in listed.values():
            every_text = str(tool.input_schema) + (tool.description or "")
            assert "ASSUMED" not in every_text
            assert "(vendor" not in every_text
            assert not any(key.startswith("x-") for key in props.get("mode", {}))
        # No tool takes a token, a cost or a cap: the assistant cannot set them.
        for tool in listed.values():
            for prop in tool.input_schema.get("properties", {}):
                assert not re.search(r"token|cost|cap|budget|dir", prop), (tool.name, prop)
        annotations = gen.annotations
        assert annotations is not None
        assert annotations.idempotent_hint is False
        assert annotations.read_only_hint is False
        assert listed["get_job"].annotations.read_only_hint is True
        assert listed["wait_for_job"].annotations.idempotent_hint is True
        assert "paid: never resubmit a job that may exist" in instructions.lower()
        assert "$1.00" in instructions

    run(body)


def test_generate_image_returns_the_image_the_path_the_job_id_and_the_cost(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            result = await s.call("generate_image", {"prompt": "a great white shark"})
            assert not result.is_error, text(result)
            data = result.structured_content
            job_id = data["job_id"]
            assert data["status"] == "complete"
            assert data["cost"] == "0.01"
            assert job_id in text(result)
            saved = Path(data["path"])
            assert saved.parent == (tmp_path / "out").resolve()
            assert saved.name == f"{job_id}.png"
            with Image.open(saved) as full:
                assert full.size == MODE_SIZES["1k"]
            images = [c for c in result.content if c.type == "image"]
            assert len(images) == 1
            assert images[0].mime_type == "image/jpeg"
            with Image.open(io.BytesIO(base64.b64decode(images[0].data))) as thumb:
                assert max(thumb.size) <= 256
            assert len(images[0].data) < 64_000  # small enough for a model's context
            # Progress notifications during the wait, each naming the job.
            messages = [m for _, _, m in s.progress]
            assert len(messages) >= 2
            assert all(job_id in (m or "") for m in messages)
            values = [p for p, _, _ in s.progress]
            assert values == sorted(values)
            assert len(set(values)) == len(values)
            # The job is one charge in the sandbox's ledger, and list_jobs knows it.
            jobs = await s.call("list_jobs")
            assert jobs.structured_content["jobs"][0]["job_id"] == job_id
            assert jobs.structured_content["spend_counted"] == "0.01"
            status = await s.call("get_job", {"job_id": job_id})
            assert status.structured_content["status"] == "complete"
            assert status.structured_content["path"] == str(saved)
        ledger = sharkapi_sandbox.ledger()
        assert [(c.job_id, c.amount) for c in ledger] == [(job_id, Decimal("0.01"))]

    run(body)


def test_the_same_session_works_over_the_direct_in_process_dispatcher(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    # mode="auto" skips JSON-RPC framing (mcp 2.x's modern per-request path).
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path, mode="auto") as s:
            result = await s.call("generate_image", {"prompt": "a shark", "mode": "2k"})
            assert not result.is_error, text(result)
            assert result.structured_content["cost"] == "0.02"
            assert any(c.type == "image" for c in result.content)

    run(body)


@pytest.mark.parametrize(
    ("arguments", "field", "words"),
    [
        ({"prompt": "x" * 2001}, "prompt", "2001 characters, more than 2000"),
        ({"prompt": ""}, "prompt", "should be non-empty"),
        ({"prompt": "a shark", "mode": "4k"}, "mode", "'4k' is not one of"),
        ({"prompt": "a shark", "image_strength": 0.5}, "arguments", "image_path"),
        ({"prompt": "a shark", "image_path": "a.png", "image_strength": 1.5}, "image_strength", ""),
        ({"prompt": "a shark", "max_cost": "100"}, "arguments", "max_cost"),
        ({"prompt": "a shark", "token": "sk_live_x"}, "arguments", "token"),
        ({}, "arguments", "'prompt' is a required property"),
    ],
)
def test_bad_arguments_are_refused_by_name_before_anything_is_sent(
    sharkapi_sandbox: Sandbox, tmp_path: Path, arguments: dict, field: str, words: str
) -> None:
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            result = await s.call("generate_image", arguments)
            assert result.is_error
            assert result.structured_content["kind"] == "invalid_argument"
            assert f"{field}: " in text(result)
            assert words in text(result)
            assert "nothing was sent" in text(result)
        assert sharkapi_sandbox.requests() == []

    run(body)


def test_get_job_and_wait_for_job_check_the_job_id(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            bad = await s.call("wait_for_job", {"job_id": "../../etc"})
            assert bad.is_error
            assert bad.structured_content["kind"] == "invalid_argument"
            missing = await s.call("get_job", {"job_id": "job_doesnotexist"})
            assert missing.is_error
            assert missing.structured_content["kind"] == "not_found"
            assert missing.structured_content["job_id"] == "job_doesnotexist"
            assert "job_doesnotexist" in text(missing)
            resumed = await s.call("wait_for_job", {"job_id": "job_doesnotexist"})
            assert resumed.structured_content["kind"] == "not_found"
            assert resumed.structured_content["job_id"] == "job_doesnotexist"
            assert "exists" not in text(resumed)
            assert "list_jobs" in text(missing)

    run(body)


def test_unknown_tool_is_an_error_naming_the_tools(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            result = await s.call("generateImage", {"prompt": "x"})
            assert result.is_error
            assert "generate_image" in text(result)

    run(body)
