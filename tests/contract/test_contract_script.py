"""scripts/contract-test over real HTTP: passes on a healthy sandbox, fails readably on a
broken one, and never lets more billable submissions through than --max-cost pays for.

Each run is `schemathesis run` with positive and negative data, every phase (examples,
coverage, fuzzing, stateful through the spec's links) and `--checks all`, with
`--max-examples 5` (3 for the broken-sandbox runs, which stop at the first failure) and
`--seed 1`. About 10 s for a full run, 2 s for a broken one, on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "contract-test"
FAST = {"queued_seconds": 0.05, "processing_seconds": 0.1}
TOKEN_SECRET = "sk_test_contract_secret_4b1d"  # auto-created wallet on the sandbox


def contract_test(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SHARKAPI_TOKEN"}
    if token is not None:
        env["SHARKAPI_TOKEN"] = token
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--seed", "1", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=240,
        check=False,
    )


def report(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(**FAST)) as sandbox:
        yield sandbox


def test_default_sandbox_passes_every_check() -> None:
    """No --base-url: the script starts (and stops) its own sandbox; all checks pass."""
    done = contract_test("--max-examples", "5")
    assert done.returncode == 0, report(done)
    out = done.stdout
    assert "started a sandbox" in out
    # The behavioural promises ran first, with the sandbox's second token, and all held.
    assert "== contract-test: behavioural promises" in out
    assert "PROMISE BROKEN" not in out
    assert "PASS   happy-path " in out, report(done)
    assert "PASS   isolation-other-account " in out, report(done)
    assert "spent: at most $" in out
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅  {phase}" in out, report(done)
    assert "API Links:    1 covered" in out, report(done)  # submit -> poll was followed
    assert "billable submissions:" in out
    assert "worst-case spend: $" in out
    assert "contract-test: passed" in out


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("bad_schema", "ST108 Response violates schema"),
        ("wrong_status", "ST103 Undocumented status code"),
    ],
)
def test_broken_sandbox_fails_with_a_readable_report(fault: str, check: str) -> None:
    with Sandbox(SandboxConfig(**FAST, **{fault: True})) as broken:
        done = contract_test(
            "--base-url",
            broken.base_url,
            "--max-examples",
            "3",
            "--max-failures",
            "1",
            "--suite",
            "schema",
            token=broken.token,
        )
    assert done.returncode != 0, report(done)
    assert check in done.stdout, report(done)
    assert "Reproduce with:" in done.stdout
    assert "contract-test: FAILED" in done.stdout


def test_budget_caps_billable_submissions_and_hides_the_token(sandbox: Sandbox) -> None:
    """--max-cost 0.05 at 2k prices: at most 2 jobs, seen by the sandbox itself."""
    sandbox.add_token(TOKEN_SECRET)
    done = contract_test(
        "--base-url",
        sandbox.base_url,
        "--max-cost",
        "0.05",
        "--price-all-as-2k",
        "--max-examples",
        "5",
        "--suite",
        "schema",
        token=TOKEN_SECRET,
    )
    assert done.returncode == 0, report(done)
    assert TOKEN_SECRET not in done.stdout + done.stderr
    assert "budget reached:" in done.stdout, report(done)  # the cap did bite
    # The jobs must finish, so that the ledger charges them: as soon as they have (at once
    # on a quiet machine), not after a fixed pause that a slow one can outlast.
    deadline = time.monotonic() + 30
    while any(s.status != s.final_status for s in sandbox.submissions()):
        assert time.monotonic() < deadline, sandbox.submissions()
        time.sleep(0.01)
    submissions = sandbox.submissions()
    created = [
        r
        for r in sandbox.requests()
        if r.method == "POST" and r.path == "/v1/generate" and 200 <= r.status < 300
    ]
    ledger = sandbox.ledger()
    assert 1 <= len(submissions) <= 2, submissions
    assert len(created) == len(submissions)
    assert len(ledger) <= 2
    assert sum((charge.amount for charge in ledger), Decimal(0)) <= Decimal("0.05")
    assert f"billable submissions: {len(submissions)} " in done.stdout, report(done)


def test_without_a_token_against_a_server_it_refuses_to_start() -> None:
    done = contract_test("--base-url", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "no token" in done.stderr
