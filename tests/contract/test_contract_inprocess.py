"""The contract checks against the sandbox in process (`schema.app = create_app(...)`).

The over-HTTP run is scripts/contract-test (test_contract_script.py). Here: every operation
with positive AND negative data (15 examples per operation and mode) and every check
schemathesis has (`call_and_validate()` runs all enabled checks, which is all of them by
default), and a stateful run through the spec's links (submit -> poll), 10 examples of at
most 6 steps. A drawn `image` that is valid base64 becomes a real 1x1 PNG, as the spec's
prose asks (its pattern alone allows any base64).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode

from sharkapi_ext.sandbox import DEFAULT_TOKEN, SandboxConfig, create_app

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    "AAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
)
BASE64 = re.compile(
    r"^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
    r"|^[A-Za-z0-9+/]{2}==$|^[A-Za-z0-9+/]{3}=$"
)

schema = schemathesis.openapi.from_path(SPEC)
schema.app = create_app(SandboxConfig(queued_seconds=0.01, processing_seconds=0.02, seed=1))
schema.config.update(headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=15
)
# Valid data may also meet an empty wallet (402) or content moderation (422, e.g. the
# sandbox's `[blocked]` marker): openapi.yaml documents both for a well-formed submit.
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *schema.config.checks.positive_data_acceptance.expected_statuses,
    "402",
    "422",
]


def real_image(case: Any) -> None:
    body = case.body
    image = body.get("image") if isinstance(body, dict) else None
    if isinstance(image, str) and BASE64.match(image):
        body["image"] = PNG_1X1


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_passes_every_check(case: Any) -> None:
    real_image(case)
    case.call_and_validate()


class Workflow(schema.as_state_machine()):  # type: ignore[misc]
    def before_call(self, case: Any) -> None:
        real_image(case)


TestWorkflow = Workflow.TestCase
TestWorkflow.settings = settings(
    max_examples=10,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
