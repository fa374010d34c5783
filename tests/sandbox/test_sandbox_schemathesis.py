"""Contract: schemathesis against the sandbox, in process and over HTTP, with every check.

The sandbox is correct when schemathesis finds nothing, with positive and negative data, and
statefully through the spec's links (submit, then poll the returned job).

A valid request must never get 400 or 404. So, as tests/contract does, a drawn `image` that
is valid base64 becomes a real PNG (the schema's pattern allows any base64; its prose and the
sandbox want a PNG or JPEG), and a drawn job id that the `JobId` pattern allows becomes the
id of a real job (a random valid id names no job).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
import sharkapi_spec as spec
from hypothesis import HealthCheck, settings
from sandbox_helpers import SPEC_PATH, png_b64
from schemathesis import GenerationMode

from sharkapi_ext.sandbox import Sandbox, SandboxConfig, SandboxState, create_app

TOKEN = "sk_test_contract"
# What valid data may still get: a wallet that ran dry (402) or the `[blocked]` marker
# (422), both documented for a well-formed submit; never 400 or 404.
POSITIVE_STATUSES = ["2xx", "401", "402", "403", "422", "429"]
PNG = png_b64((0, 128, 255), size=(4, 4))
BASE64 = re.compile(spec.IMAGE_BASE64_PATTERN)
JOB_ID = re.compile(spec.JOB_ID_PATTERN)


def make_valid_real(case: Any, state: SandboxState, job_id: str) -> None:
    """A valid image becomes a real PNG; a valid id of no job becomes `job_id`."""
    body = case.body
    image = body.get("image") if isinstance(body, dict) else None
    if isinstance(image, str) and BASE64.fullmatch(image):
        body["image"] = PNG
    given = (case.path_parameters or {}).get("job_id")
    if isinstance(given, str) and JOB_ID.fullmatch(given) and state.job(given) is None:
        case.path_parameters["job_id"] = job_id


def real_job(state: SandboxState) -> str:
    wallet = state.wallet(TOKEN)
    assert wallet is not None
    job = state.submit(
        wallet, prompt="a shark", mode=spec.DEFAULT_MODE, image=None, image_strength=None
    )
    assert not isinstance(job, Decimal)
    return job.job_id


def make_schema(**config: object) -> schemathesis.schemas.BaseSchema:
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    schema.config.checks.positive_data_acceptance.expected_statuses = POSITIVE_STATUSES
    schema.config.generation.update(max_examples=15)
    return schema


def in_process_state() -> SandboxState:
    state = SandboxState(SandboxConfig(queued_seconds=0.01, processing_seconds=0.02, seed=1))
    state.add_token(TOKEN, balance=Decimal("1000000"))
    return state


in_process = make_schema()
IN_PROCESS_STATE = in_process_state()
IN_PROCESS_JOB = real_job(IN_PROCESS_STATE)
in_process.app = create_app(state=IN_PROCESS_STATE)
in_process.config.update(headers={"Authorization": f"Bearer {TOKEN}"})


@in_process.parametrize()
def test_in_process(case: schemathesis.Case) -> None:
    make_valid_real(case, IN_PROCESS_STATE, IN_PROCESS_JOB)
    case.call_and_validate()


over_http = make_schema()


@pytest.fixture(scope="module")
def live_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(queued_seconds=0.01, processing_seconds=0.02, seed=2)) as sandbox:
        sandbox.add_token(TOKEN, balance=Decimal("1000000"))
        yield sandbox


@over_http.parametrize()
def test_over_http(case: schemathesis.Case, live_sandbox: Sandbox) -> None:
    # The port is known only once the server runs, after collection: pass it per call.
    make_valid_real(case, live_sandbox.state, real_job(live_sandbox.state))
    case.call_and_validate(
        base_url=live_sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    )


stateful = make_schema()
STATEFUL_STATE = in_process_state()
STATEFUL_JOB = real_job(STATEFUL_STATE)
stateful.app = create_app(state=STATEFUL_STATE)
stateful.config.update(headers={"Authorization": f"Bearer {TOKEN}"})


class Workflow(stateful.as_state_machine()):  # type: ignore[misc]
    def before_call(self, case: Any) -> None:
        make_valid_real(case, STATEFUL_STATE, STATEFUL_JOB)


TestWorkflow = Workflow.TestCase
TestWorkflow.settings = settings(
    max_examples=8,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def test_modes_cover_positive_and_negative() -> None:
    modes = in_process.config.generation.modes
    assert GenerationMode.POSITIVE in modes
    assert GenerationMode.NEGATIVE in modes
