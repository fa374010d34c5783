"""Jobs and money as text and as JSON: one rendering for every front end.

The CLI (`sharkapi status --json`, `generate --json`) and the MCP server (`get_job`,
`generate_image`, `list_jobs`) print the same job the same way: amounts as dollars with
two decimals, times in ISO 8601, every field present (None when the API did not say).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import JobStatus

__all__ = ["format_amount", "format_dollars", "job_status_dict"]


def format_amount(amount: Decimal | None) -> str | None:
    """An amount for JSON output, such as ``"0.02"`` (dollars, two decimals).

    Args:
        amount: Dollars, or None when unknown.

    Returns:
        The amount as text without a currency sign, or None for None.
    """
    return None if amount is None else f"{amount:.2f}"


def format_dollars(amount: Decimal) -> str:
    """An amount for people, such as ``"$0.02"`` (two decimals)."""
    return f"${amount:.2f}"


def job_status_dict(status: JobStatus) -> dict[str, str | None]:
    """A job's status as a JSON-ready dict, the same in every front end.

    Args:
        status: The status read from the API.

    Returns:
        ``job_id``, ``status``, ``mode``, ``estimated_cost``, ``cost`` (see
        `format_amount`), ``image_url``, ``error_code``, ``error_message``,
        ``created_at`` and ``updated_at`` (ISO 8601).
    """
    return {
        "job_id": status.job_id,
        "status": status.status,
        "mode": status.mode,
        "estimated_cost": format_amount(status.estimated_cost),
        "cost": format_amount(status.cost),
        "image_url": status.image_url,
        "error_code": status.error_code,
        "error_message": status.error_message,
        "created_at": status.created_at.isoformat(),
        "updated_at": status.updated_at.isoformat() if status.updated_at else None,
    }
