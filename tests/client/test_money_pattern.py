"""Money that does not fit the spec's `Money` pattern is a typed error naming the job.

Issue 21, class 3: `"$"` and a million nines used to parse, then overflowed the Decimal
arithmetic of every total later (an untyped `decimal.Overflow`).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import httpx
import pytest
import sharkapi_spec as spec

from sharkapi_ext import SharkAPI, UnexpectedResponseError, parse_money

HUGE = "$" + "9" * 1_000_000
JOB = {
    "job_id": "job_money",
    "status": "queued",
    "estimated_cost": "$0.01",
    "poll_url": "https://api.example/v1/jobs/job_money",
    "created_at": "2025-01-01T00:00:00Z",
}


def _client(answer: dict[str, object], status: int) -> SharkAPI:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=answer)

    return SharkAPI(
        "sk_test_money",
        base_url="https://api.example",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


@pytest.mark.parametrize(
    "text",
    [HUGE, "$1234567890", "$0.1234567", "$1e3", "$ 1", "$1.", "$.5", "$1\n", "$-1"],
)
def test_parse_money_refuses_what_the_spec_pattern_refuses(text: str) -> None:
    assert re.fullmatch(spec.MONEY_PATTERN, text) is None
    with pytest.raises(ValueError, match="Money") as caught:
        parse_money(text)
    assert len(str(caught.value)) < 400  # a million digits are not echoed


@pytest.mark.parametrize("text", ["$0", "$0.02", "$999999999.999999", "$12.5"])
def test_parse_money_takes_what_the_pattern_takes(text: str) -> None:
    assert parse_money(text) == Decimal(text[1:])


def test_a_submit_answer_with_huge_money_names_the_job_and_says_it_was_created() -> None:
    with _client({**JOB, "estimated_cost": HUGE}, 202) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            client.submit("a shark")
    assert caught.value.job_id == "job_money"
    assert "estimated_cost" in str(caught.value)
    assert "probably created" in str(caught.value)


def test_a_poll_answer_with_huge_cost_names_the_job() -> None:
    status = {
        **JOB,
        "status": "complete",
        "mode": spec.DEFAULT_MODE,
        "cost": HUGE,
        "image_url": "https://cdn.example/x.png",
    }
    with _client(status, 200) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            client.get_job("job_money")
    assert caught.value.job_id == "job_money"
    assert "'cost'" in str(caught.value)
    assert len(json.dumps(str(caught.value))) < 2000
