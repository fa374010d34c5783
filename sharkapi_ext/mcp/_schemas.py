"""The tools' names, descriptions and input schemas, built from the spec's facts.

Limits, enums, prices and descriptions come from `sharkapi_spec` (generated from
`openapi.yaml`), so the model sees what the API enforces. The spec's notes to its
maintainers (the "**ASSUMED:**" sentences and the "(vendor)" provenance marks) are
stripped: a tool description speaks to the model, not to whoever maintains the spec.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sharkapi_spec import (
    DEFAULT_MODE,
    GENERATE_REQUEST_SCHEMA,
    IMAGE_MAX_BYTES,
    JOB_STATUS_SCHEMA,
    MODE_PRICES,
    MODE_SIZES,
    MODES,
)

__all__ = [
    "GENERATE_IMAGE",
    "GET_JOB",
    "LIST_JOBS",
    "TOOL_NAMES",
    "WAIT_FOR_JOB",
    "ToolSpec",
    "for_model",
    "tool_specs",
]

GENERATE_IMAGE: Final = "generate_image"
WAIT_FOR_JOB: Final = "wait_for_job"
GET_JOB: Final = "get_job"
LIST_JOBS: Final = "list_jobs"
TOOL_NAMES: Final = (GENERATE_IMAGE, WAIT_FOR_JOB, GET_JOB, LIST_JOBS)

# "**ASSUMED:** ..." (or "**ASSUMED** in full: ...") runs to the end of its paragraph.
_ASSUMED = re.compile(r"\*\*ASSUMED:?\*\*.*?(?=\n\s*\n|\Z)", re.DOTALL)
_PROVENANCE = re.compile(r"\s*\((?:vendor|vendor's example|vendor's format)\)")


def for_model(description: str) -> str:
    """A spec description rewritten for a model: maintainer notes out, one line.

    Args:
        description: A `description` from `openapi.yaml`.

    Returns:
        The text without "**ASSUMED:**" notes or "(vendor)" marks, whitespace folded.
    """
    text = _PROVENANCE.sub("", _ASSUMED.sub("", description))
    return " ".join(text.split())


def _money(amount: Decimal) -> str:
    return f"${amount:.2f}"


def _size(count: int) -> str:
    mib = count / (1024 * 1024)
    return f"{mib:g} MiB ({count} bytes)" if mib.is_integer() else f"{count} bytes"


def _price_list() -> str:
    return ", ".join(
        f"{mode} = {MODE_SIZES[mode][0]}×{MODE_SIZES[mode][1]} at {_money(MODE_PRICES[mode])}"
        for mode in MODES
    )


def _spec_property(name: str) -> dict[str, Any]:
    """One GenerateRequest property, copied, with its description for the model."""
    prop: dict[str, Any] = copy.deepcopy(dict(GENERATE_REQUEST_SCHEMA["properties"][name]))
    for key in [k for k in prop if k.startswith("x-")]:
        del prop[key]  # vendor extensions feed the generator, not the model
    if "description" in prop:
        prop["description"] = for_model(prop["description"])
    return prop


@dataclass(frozen=True)
class ToolSpec:
    """One tool as listed: its name, title, description and JSON Schema of arguments.

    Attributes:
        name: The tool's name.
        title: A short human title.
        description: What the model reads to decide when and how to call it.
        input_schema: The JSON Schema (2020-12) of its arguments.
    """

    name: str
    title: str
    description: str
    input_schema: Mapping[str, Any]


def _job_id_property() -> dict[str, Any]:
    """The `JobId` schema (pattern and description), as a tool argument."""
    prop: dict[str, Any] = copy.deepcopy(dict(JOB_STATUS_SCHEMA["properties"]["job_id"]))
    prop.pop("examples", None)
    prop["description"] = for_model(prop.get("description", ""))
    return prop


def tool_specs(
    *, max_cost: Decimal, allowed_dirs: tuple[str, ...], max_wait: float
) -> list[ToolSpec]:
    """The server's tools, with this server's cap, directories and wait bound in their text.

    Args:
        max_cost: The spend cap, in dollars.
        allowed_dirs: Directories `image_path` may read from (resolved).
        max_wait: Seconds a call waits for a job before answering `pending`.

    Returns:
        The tools, in the order they are listed.
    """
    prompt = _spec_property("prompt")
    mode = _spec_property("mode")
    mode["default"] = DEFAULT_MODE
    mode["description"] = (
        f"{mode.get('description', '')} Optional: {DEFAULT_MODE} (the cheapest) when omitted."
    ).strip()
    strength = _spec_property("image_strength")
    strength["description"] = strength.get("description", "").replace("`image`", "image_path")
    dirs = ", ".join(allowed_dirs) or "none yet: the user must start the server with --allow-dir"
    image_path = {
        "type": "string",
        "minLength": 1,
        "description": (
            "Optional source image for image-to-image: the path of a local PNG or JPEG file, "
            f"at most {_size(IMAGE_MAX_BYTES)}, inside one of the allowed directories ({dirs}). "
            "A relative path is read from the first of them."
        ),
    }
    generate_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "prompt": prompt,
            "mode": mode,
            "image_path": image_path,
            "image_strength": strength,
        },
        "required": ["prompt"],
        "additionalProperties": False,
        # The spec's rule (strength needs a source image), with the source as a path.
        "dependentRequired": {"image_strength": ["image_path"]},
    }
    wait = int(max_wait)
    generate = ToolSpec(
        GENERATE_IMAGE,
        "Generate an image (paid)",
        (
            "Generate one image with SharkAPI and save it locally. PAID: each call submits a "
            f"new job charged when it completes ({_price_list()}). Waits up to {wait} s, then "
            "returns the saved file's path, the job id, the cost and a small preview. If the "
            "job is not finished by then, the result says `pending` with its job_id: call "
            "wait_for_job with that job_id, never generate_image again (that would pay for a "
            "second image). If a result or error names a job_id or says the outcome is "
            f"unknown, do not resubmit. A spend cap of {_money(max_cost)} for this session, "
            "set by the user, refuses submits past it."
        ),
        generate_schema,
    )
    wait_for_job = ToolSpec(
        WAIT_FOR_JOB,
        "Wait for an existing job (free)",
        (
            "Resume an existing SharkAPI job by its id: wait for it (up to "
            f"{wait} s per call), save its image and return the path, cost and a small "
            "preview. Never submits anything and costs nothing extra. If it is still not "
            "finished, the result says `pending`: call wait_for_job again."
        ),
        {
            "type": "object",
            "properties": {"job_id": _job_id_property()},
            "required": ["job_id"],
            "additionalProperties": False,
        },
    )
    get_job = ToolSpec(
        GET_JOB,
        "Get a job's status (free)",
        "Read a SharkAPI job's current status and cost once, without waiting or downloading.",
        {
            "type": "object",
            "properties": {"job_id": _job_id_property()},
            "required": ["job_id"],
            "additionalProperties": False,
        },
    )
    list_jobs = ToolSpec(
        LIST_JOBS,
        "List this session's jobs (free)",
        (
            "List the jobs this server submitted since it started (ids, statuses, saved "
            "paths, costs), submits whose outcome is unknown, and the spend counted against "
            "the cap. Use it to find a job again instead of submitting a new one."
        ),
        {"type": "object", "properties": {}, "additionalProperties": False},
    )
    return [generate, wait_for_job, get_job, list_jobs]
