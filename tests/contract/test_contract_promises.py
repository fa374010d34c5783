"""scripts/contract-test's behavioural promises: each one fails on a server built to break it.

Every server is the sandbox with one behaviour changed (`broken_servers.BUGS`); the
unmodified sandbox, with and without its rate limiter, keeps every promise. The script runs
in process (`--suite promises`, schemathesis is tested in test_contract_script.py) with
fast jobs and polls, about 1 to 2 s a server.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest
import sharkapi_spec as spec
from broken_servers import BUGS, CHEAPEST, RATE_LIMIT, broken_sandbox

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "contract-test"

#: bug -> the promise that must break, and text the report must show.
EXPECTED = {
    "double-charge": ("money-charged-cost", "cost $"),
    "charge-failed": ("money-uncharged-cost", "cost $0.00 with status"),
    "estimate-low": ("money-estimate", "estimated_cost at least"),
    "lagging-replica": ("lifecycle-forward-only", "(terminal is final)"),
    "no-image-url": ("lifecycle-image-url", "an image_url with status"),
    "early-image-url": ("lifecycle-image-url", "no image_url with status"),
    "unknown-job-id": ("lifecycle-readable-at-once", "GET of the new job"),
    "production-poll-url": ("lifecycle-poll-url-origin", "https://api.sharkapi.dev"),
    "clock-skew": ("lifecycle-updated-at", "updated_at at or after"),
    "no-retry-after": ("rate-limit-retry-after", "a 429 with Retry-After"),
    "shared-jobs": ("isolation-other-account", "another account's token"),
    "accepts-next-mode": ("inputs-near-miss", "mode '4k'"),
    "case-insensitive-mode": ("inputs-near-miss", f"mode {CHEAPEST.upper()!r}"),
    "truncates-prompt": ("inputs-near-miss", f"prompt of {spec.PROMPT_MAX_LENGTH + 1}"),
    "clamps-strength": ("inputs-near-miss", "image_strength 1.0000000000000002"),
    "image-limit-off-by-one": ("inputs-near-miss", f"image of {spec.IMAGE_MAX_BYTES + 1} bytes"),
    "image-html": ("images-served", "got text/html"),
    "image-wrong-size": ("images-served", "size 512x512"),
    "image-needs-token": ("images-served", "fetched without a token"),
    "wallet-402": ("happy-path", "every valid submit was refused"),
    "slow-one-in-ten": ("latency", "an answer within 0.25 s"),
}


@pytest.fixture(scope="module")
def script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("contract_test_promises", str(SCRIPT))
    module_spec = importlib.util.spec_from_loader(loader.name, loader)
    assert module_spec is not None
    module = importlib.util.module_from_spec(module_spec)
    # Registered while it runs: its dataclasses look their module up in sys.modules.
    sys.modules[loader.name] = module
    try:
        loader.exec_module(module)
    finally:
        del sys.modules[loader.name]
    return module


def run(script: ModuleType, capsys: pytest.CaptureFixture[str], sandbox, *extra: str):
    code = script.main(
        [
            "--suite",
            "promises",
            "--base-url",
            sandbox.base_url,
            "--token",
            sandbox.token,
            "--second-token",
            sandbox.second_token,
            "--seed",
            "1",
            "--poll-interval",
            "0.04",
            "--job-timeout",
            "2",
            "--promise-examples",
            "1",
            *extra,
        ]
    )
    out = capsys.readouterr()
    text = out.out + out.err
    assert sandbox.token not in text
    assert sandbox.second_token not in text
    return code, text


def broken_promises(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("PROMISE BROKEN: ")}


def test_every_promise_class_has_a_broken_server() -> None:
    classes = {spec.PROMISES[promise]["class"] for promise, _ in EXPECTED.values()}
    assert classes == {p["class"] for p in spec.PROMISES.values()}
    assert set(EXPECTED) == set(BUGS)


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_a_broken_server_breaks_its_promise(
    script: ModuleType, capsys: pytest.CaptureFixture[str], bug: str
) -> None:
    promise, shown = EXPECTED[bug]
    extra = ("--max-response-time", "0.25") if bug == "slow-one-in-ten" else ()
    with broken_sandbox(bug) as sandbox:
        code, text = run(script, capsys, sandbox, *extra)
    assert code == 1, text
    assert promise in broken_promises(text), text
    report = text[text.index(f"PROMISE BROKEN: {promise}") :]
    assert shown in report, report
    assert "  request:  curl -X " in report
    assert "Bearer [MASKED]" in text or promise == "images-served"
    assert "contract-test: FAILED" in text


@pytest.mark.parametrize(
    "config",
    [{}, {"rate_limit_per_second": RATE_LIMIT}],
    ids=["sandbox", "sandbox-with-rate-limiter"],
)
def test_the_unmodified_sandbox_keeps_every_promise(
    script: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path, config: dict
) -> None:
    report = tmp_path / "junit.xml"
    with broken_sandbox(None, **config) as sandbox:
        code, text = run(script, capsys, sandbox, "--report", "junit", "--report-path", str(report))
    assert code == 0, text
    assert "PROMISE BROKEN" not in text
    for name in spec.PROMISES:
        if name != "rate-limit-retry-after" or config:
            assert f"PASS   {name} " in text, text
    assert "spent: at most $" in text
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0"
    names = {case.get("name") for case in suite.iter("testcase")}
    assert names == set(spec.PROMISES)


def test_without_a_second_token_isolation_is_skipped_with_a_notice(
    script: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "junit.xml"
    with broken_sandbox("shared-jobs") as sandbox:
        code = script.main(
            [
                "--suite",
                "promises",
                "--base-url",
                sandbox.base_url,
                "--token",
                sandbox.token,
                "--seed",
                "1",
                "--poll-interval",
                "0.04",
                "--promise-examples",
                "1",
                "--report",
                "junit",
                "--report-path",
                str(report),
            ]
        )
    text = capsys.readouterr().out
    assert code == 0, text  # the bug cannot be seen with one account
    assert "NOTICE: isolation check skipped: no second token" in text
    assert "NOTICE: SKIP (skipped) isolation-other-account" in text
    skipped = [
        case
        for case in ET.parse(report).getroot().iter("testcase")
        if case.find("skipped") is not None
    ]
    assert [case.get("name") for case in skipped][:1] == ["isolation-other-account"]


def test_near_misses_are_derived_from_the_spec(script: ModuleType) -> None:
    labels = [label for label, _ in script.near_misses()]
    modes = {body["mode"] for _, body in script.near_misses() if isinstance(body, dict)}
    assert {"4k", "3k", "1K", " 1k", "1k "} <= modes
    assert not modes & set(spec.MODES) - {spec.DEFAULT_MODE}
    assert any(f"prompt of {spec.PROMPT_MAX_LENGTH + 1} characters" in x for x in labels)
    assert any("image_strength 1.0000000000000002" in x for x in labels)
    big = script.png_of_size(spec.IMAGE_MAX_BYTES + 1)
    assert len(big) == spec.IMAGE_MAX_BYTES + 1
    assert script.image_size(big) == ("image/png", (1, 1))


def test_a_budget_too_small_for_the_near_misses_still_runs(
    script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rules never depend on the budget: hypothesis must not call the machine flaky."""
    with broken_sandbox(None) as sandbox:
        code, text = run(script, capsys, sandbox, "--max-cost", "0.01")
    assert code == 0, text
    assert "not sent, --max-cost reached" in text
    assert "spent: at most $0.01" in text
