"""Every answer field the hand-written SDK reads is one the spec declares.

A later spec that renames or removes such a field (a breaking release) fails here, by
name, before any user sees a `JobStatus` without its image URL. The same change makes
the client raise at the first answer that lacks the field
(`tests/client/test_answer_headers_and_fields.py`), and the sandbox, whose answers are
built from the spec's schemas, then stops sending it.
"""

from __future__ import annotations

import pytest
import sharkapi_spec as spec

from sharkapi_ext._models import JOB_FIELDS_READ, JOB_STATUS_FIELDS_READ


@pytest.mark.parametrize(
    ("schema", "read", "declared"),
    [
        ("Job", JOB_FIELDS_READ, spec.JOB_FIELDS),
        ("JobStatus", JOB_STATUS_FIELDS_READ, spec.JOB_STATUS_FIELDS),
    ],
)
def test_every_field_the_sdk_reads_is_declared(
    schema: str, read: tuple[str, ...], declared: tuple[str, ...]
) -> None:
    gone = [name for name in read if name not in declared]
    assert not gone, (
        f"openapi.yaml {spec.SPEC_VERSION} no longer declares {gone} in {schema}, which "
        "sharkapi_ext/_models.py reads: a renamed or removed response field needs a code "
        "change (and a breaking release)"
    )


def test_the_fields_the_sdk_requires_are_required_by_the_spec() -> None:
    # The SDK refuses an answer without these; the spec must promise them.
    required = set(spec.JOB_STATUS_SCHEMA["required"])
    assert {"job_id", "status", "mode", "created_at", "estimated_cost", "poll_url"} <= required
    assert set(JOB_FIELDS_READ) <= set(spec.JOB_SCHEMA["required"])
