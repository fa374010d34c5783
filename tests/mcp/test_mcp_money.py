"""`generate_image` when the API's money does not fit the spec (issue 21, class 3).

A 202 whose `estimated_cost` was `"$"` and a million nines made the spend cap's
arithmetic overflow after the job was created, and the server then told the model
"retrying this tool is safe": a model that followed that advice paid twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from mcp_helpers import connect, run, text
from money_server import JOB_ID, money_server

pytestmark = pytest.mark.timeout(60)


def test_a_created_job_with_huge_money_is_never_called_safe_to_retry(tmp_path: Path) -> None:
    async def body() -> None:
        with money_server(bad_submit=True, bad_poll=True) as server:
            async with connect(cast(Any, server), tmp_path, max_retries=0) as s:
                result = await s.call("generate_image", {"prompt": "a shark"})
                listed = await s.call("list_jobs")
            assert len(server.submits) == 1
        said = text(result)
        assert result.is_error, said
        assert JOB_ID in said, said
        assert result.structured_content is not None
        assert result.structured_content.get("job_id") == JOB_ID, result.structured_content
        lowered = said.lower()
        assert "is safe" not in lowered, said
        assert "nothing submitted" not in lowered, said
        assert "no job was created" not in lowered, said
        assert "do not call generate_image again" in lowered, said
        assert JOB_ID in text(listed)

    run(body)


def test_any_failure_after_a_2xx_submit_names_the_job_and_forbids_resubmitting(
    sharkapi_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharkapi_ext.mcp._budget import SpendCap

    def broken(self: SpendCap, reservation: object, amount: object) -> None:
        raise ArithmeticError("bookkeeping failed after the submit")

    monkeypatch.setattr(SpendCap, "raise_to", broken)

    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            result = await s.call("generate_image", {"prompt": "a shark"})
        [created] = sharkapi_sandbox.submissions()
        said = text(result)
        assert result.is_error, said
        assert created.job_id in said, said
        assert "is safe" not in said.lower(), said
        assert "do not call generate_image again" in said.lower(), said

    run(body)
