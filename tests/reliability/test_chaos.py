"""Chaos: hundreds of generations through `AsyncSharkAPI.generate_many` under injected faults.

The sandbox runs over real loopback HTTP and answers 20% 503 (half with Retry-After),
10% 429, 5% HTML 500/502 pages, some slow answers, and drops some connections after
the job was created. The figures are reconciled against the sandbox's own records
(submissions and ledger): nothing lost silently, nothing created twice, every completed
job charged exactly once.

Sleeps: the sandbox's Retry-After is 0 or 1 s by config, so those waits are real. A 503
WITHOUT Retry-After means 30 s (the vendor's word), so the client's injected `sleep`
shortens any wait of 30 s or more to 50 ms and counts it (`long_sleeps_shortened`).
The jobs' wait deadline is long (120 s) so that a 30 s pause still fits before it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from decimal import Decimal

from reliability_helpers import record, scale

from sharkapi_ext import (
    AsyncSharkAPI,
    InternalServerError,
    JobStatus,
    SharkAPIError,
    SubmissionOutcomeUnknownError,
)
from sharkapi_ext.sandbox import Sandbox, SandboxConfig

CHAOS_N = scale("SHARKAPI_CHAOS_N", 300)
SEED = scale("SHARKAPI_CHAOS_SEED", 7)

CHAOS = SandboxConfig(
    queued_seconds=0.05,
    processing_seconds=0.1,
    seed=SEED,
    rate_503=0.20 / (1 - 0.10),  # drawn after 429: 20% of all requests overall
    rate_503_retry_after_fraction=0.5,
    rate_429=0.10,
    # 500 and 502 are drawn after 429 and 503: 2.5% each of all requests overall.
    rate_500=0.025 / (1 - 0.10 - 0.20),
    rate_502=0.025 / (1 - 0.10 - 0.20 - 0.025),
    rate_slow=0.05,
    slow_seconds=0.3,
    rate_drop_after_create=0.03,
    retry_after_seconds=1,
    default_balance=Decimal("1000.00"),
)


def _is_outcome_unknown(error: BaseException) -> bool:
    """A submit that broke after it may have created a job (no job id could be known)."""
    if isinstance(error, SubmissionOutcomeUnknownError):
        return True
    return isinstance(error, InternalServerError) and error.job_id is None


async def _run(sandbox: Sandbox, prompts: list[str]) -> tuple[list[object], dict[str, int]]:
    sleeps = collections.Counter()

    async def sleep(seconds: float) -> None:
        if seconds >= 30:
            sleeps["long_sleeps_shortened"] += 1
            seconds = 0.05
        sleeps["sleeps"] += 1
        await asyncio.sleep(seconds)

    async with AsyncSharkAPI(
        sandbox.token,
        base_url=sandbox.base_url,
        timeout=5.0,
        max_retries=3,
        poll_interval=0.05,
        sleep=sleep,
        # The faults here are random, not a rate limit: with the pacing gate on, every
        # random 429/503 would cut the whole client's rate and pause it a second, and
        # this run would measure that instead of fault handling. The gate has its own
        # tests (tests/client/test_pacing.py) and figures (BENCHMARKS.md, section 7).
        pacing=False,
    ) as client:
        results = await client.generate_many(prompts, concurrency=48, mode="1k", timeout=120.0)
    return results, dict(sleeps)


def chaos_figures(sandbox: Sandbox, prompts: list[str], results: list[object]) -> dict:
    """Reconcile the results against the sandbox's submissions and ledger."""
    by_prompt = dict(zip(prompts, results, strict=True))
    completed: dict[str, JobStatus] = {}
    errors = collections.Counter()
    not_typed: list[str] = []
    outcome_unknown = 0
    for prompt, result in by_prompt.items():
        if isinstance(result, JobStatus):
            if result.status != "complete" or not result.image_url:
                not_typed.append(f"{prompt}: {result!r}")
            completed[result.job_id] = result
        elif isinstance(result, SharkAPIError):
            errors[type(result).__name__] += 1
            outcome_unknown += _is_outcome_unknown(result)
        else:
            not_typed.append(f"{prompt}: {type(result).__name__}: {result}")

    submissions = sandbox.submissions()
    created = collections.Counter(sub.prompt for sub in submissions)
    duplicates = sum(count - 1 for count in created.values() if count > 1)
    lost: list[str] = []
    reconciled = collections.Counter()
    for sub in submissions:
        result = by_prompt.get(sub.prompt)
        if isinstance(result, JobStatus) and result.job_id == sub.job_id:
            reconciled["returned_complete"] += 1
        elif isinstance(result, SharkAPIError) and result.job_id == sub.job_id:
            reconciled["named_in_error"] += 1
        elif isinstance(result, BaseException) and _is_outcome_unknown(result):
            reconciled["reported_outcome_unknown"] += 1
        else:
            lost.append(f"job {sub.job_id} ({sub.prompt}) ended as {result!r}")
    # An error naming a job id must name a job that exists; an error without one must not
    # hide a created job (checked above from the sandbox's side).
    for prompt, result in by_prompt.items():
        named = isinstance(result, SharkAPIError) and result.job_id is not None
        if named and created[prompt] == 0:
            lost.append(f"{prompt}: error names job {result.job_id}, which does not exist")
    charges = collections.Counter(charge.job_id for charge in sandbox.ledger())
    final = {sub.job_id: sub.final_status for sub in submissions}
    charges_per_completed = collections.Counter(charges[job_id] for job_id in completed)
    double_charged = sum(1 for n in charges.values() if n > 1)
    charged_not_complete = sum(1 for job_id in charges if final.get(job_id) != "complete")
    return {
        "requests": len(prompts),
        "completed": len(completed),
        "failed_typed": sum(errors.values()),
        "failed_by_class": dict(sorted(errors.items())),
        "outcome_unknown": outcome_unknown,
        "not_typed": len(not_typed),
        "not_typed_examples": not_typed[:5],
        "jobs_created": len(submissions),
        "reconciled": dict(sorted(reconciled.items())),
        "duplicate_submissions": duplicates,
        "charges_per_completed_job": {str(k): v for k, v in sorted(charges_per_completed.items())},
        "jobs_charged_more_than_once": double_charged,
        "charged_but_not_complete": charged_not_complete,
        "lost_silently": len(lost),
        "lost_examples": lost[:5],
    }


def test_chaos_generate_many() -> None:
    prompts = [f"chaos shark {i:05d} seed {SEED}" for i in range(CHAOS_N)]
    with Sandbox(CHAOS) as sandbox:
        started = time.monotonic()
        results, sleeps = asyncio.run(_run(sandbox, prompts))
        elapsed = time.monotonic() - started
        # Let jobs whose outcome was unknown to the client finish, so the ledger is final.
        time.sleep(CHAOS.queued_seconds + CHAOS.processing_seconds + 0.1)
        figures = chaos_figures(sandbox, prompts, results)
        served = collections.Counter(
            r.status for r in sandbox.requests() if r.path.startswith("/v1")
        )
    figures.update(
        seconds=round(elapsed, 1),
        seed=SEED,
        server_statuses={str(k): v for k, v in sorted(served.items())},
        **sleeps,
    )
    record("chaos", figures)
    assert figures["not_typed"] == 0, figures["not_typed_examples"]
    assert figures["lost_silently"] == 0, figures["lost_examples"]
    assert figures["duplicate_submissions"] == 0
    assert figures["charges_per_completed_job"] == {"1": figures["completed"]}
    assert figures["jobs_charged_more_than_once"] == 0
    assert figures["charged_but_not_complete"] == 0
    assert figures["completed"] + figures["failed_typed"] == CHAOS_N
    assert figures["completed"] > CHAOS_N // 2  # the faults are survivable, not fatal
