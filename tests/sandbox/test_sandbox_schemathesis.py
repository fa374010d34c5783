"""Contract: schemathesis against the sandbox, in process and over HTTP, with every check.

The sandbox is correct when schemathesis finds nothing, with positive and negative data, and
statefully through the spec's links (submit, then poll the returned job).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sandbox_helpers import SPEC_PATH
from schemathesis import GenerationMode

from sharkapi_ext.sandbox import Sandbox, SandboxConfig, SandboxState, create_app

TOKEN = "sk_test_contract"
# Valid by the schema but refused by rules it cannot state: an `image` that is not a real
# PNG or JPEG (400), a wallet that ran dry (402), the `[blocked]` marker (422).
POSITIVE_STATUSES = ["2xx", "400", "401", "402", "403", "404", "422", "429"]


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
in_process.app = create_app(state=in_process_state())
in_process.config.update(headers={"Authorization": f"Bearer {TOKEN}"})


@in_process.parametrize()
def test_in_process(case: schemathesis.Case) -> None:
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
    case.call_and_validate(
        base_url=live_sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    )


stateful = make_schema()
stateful.app = create_app(state=in_process_state())
stateful.config.update(headers={"Authorization": f"Bearer {TOKEN}"})


class Workflow(stateful.as_state_machine()):  # type: ignore[misc]
    pass


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
