"""The one rendering of a job and of money that the CLI and the MCP server share."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sharkapi_ext import JobStatus, format_amount, format_dollars, job_status_dict


def _status(**changes: object) -> JobStatus:
    fields: dict[str, object] = {
        "job_id": "job_1",
        "status": "complete",
        "mode": "2k",
        "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "updated_at": None,
        "estimated_cost": Decimal("0.02"),
        "cost": Decimal("0.015"),
        "image_url": "https://img.test/job_1.png",
        "error_code": None,
        "error_message": None,
        "poll_url": "https://api.test/v1/jobs/job_1",
        "raw": {},
        **changes,
    }
    return JobStatus(**fields)  # type: ignore[arg-type]


def test_money_is_dollars_with_two_decimals_and_none_stays_none() -> None:
    assert format_amount(Decimal("0.02")) == "0.02"
    assert format_amount(Decimal("1")) == "1.00"
    assert format_amount(None) is None
    assert format_dollars(Decimal("0.5")) == "$0.50"


def test_a_status_renders_every_field_json_ready() -> None:
    assert job_status_dict(_status()) == {
        "job_id": "job_1",
        "status": "complete",
        "mode": "2k",
        "estimated_cost": "0.02",
        "cost": "0.02",
        "image_url": "https://img.test/job_1.png",
        "error_code": None,
        "error_message": None,
        "created_at": "2025-01-02T03:04:05+00:00",
        "updated_at": None,
    }
    later = datetime(2025, 1, 2, 3, 5, tzinfo=UTC)
    running = job_status_dict(_status(status="queued", cost=None, updated_at=later))
    assert running["cost"] is None
    assert running["updated_at"] == "2025-01-02T03:05:00+00:00"
