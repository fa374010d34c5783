"""Paid work is never lost or paid twice: pending and resume, the spend cap, the file
guard, typed tool errors, and the token's absence from everything the server says."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from mcp_helpers import connect, run, text
from PIL import Image
from sharkapi_spec import IMAGE_MAX_BYTES

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.timeout(60)


def _posts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests() if r.method == "POST" and r.path == "/v1/generate")


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(queued_seconds=0.2, processing_seconds=1.0)) as sandbox:
        yield sandbox


def test_a_slow_job_returns_pending_and_wait_for_job_finishes_it_with_one_charge(
    slow_sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with connect(slow_sandbox, tmp_path, max_wait_seconds=0.3) as s:
            first = await s.call("generate_image", {"prompt": "a slow shark"})
            assert not first.is_error, text(first)
            data = first.structured_content
            assert data["status"] == "pending"
            job_id = data["job_id"]
            assert job_id in text(first)
            assert f'wait_for_job with job_id="{job_id}"' in text(first)
            assert "Do NOT call generate_image again" in text(first)
            assert not any(c.type == "image" for c in first.content)
            # A heartbeat during the wait, every notification naming the job.
            assert len(s.progress) >= 3  # "submitted", then heartbeats
            assert all(job_id in (message or "") for _, _, message in s.progress)
            for _ in range(20):
                resumed = await s.call("wait_for_job", {"job_id": job_id})
                assert not resumed.is_error, text(resumed)
                if resumed.structured_content["status"] != "pending":
                    break
            assert resumed.structured_content["status"] == "complete"
            assert resumed.structured_content["job_id"] == job_id
            assert Path(resumed.structured_content["path"]).is_file()
            assert any(c.type == "image" for c in resumed.content)
        assert [s.job_id for s in slow_sandbox.submissions()] == [job_id]
        assert [(c.job_id, c.amount) for c in slow_sandbox.ledger()] == [(job_id, Decimal("0.01"))]

    run(body)


def test_the_spend_cap_refuses_the_submit_that_would_pass_it(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path, max_cost=Decimal("0.03")) as s:
            ok = await s.call("generate_image", {"prompt": "a shark", "mode": "2k"})
            assert not ok.is_error, text(ok)
            refused = await s.call("generate_image", {"prompt": "a shark", "mode": "2k"})
            assert refused.is_error
            assert refused.structured_content["kind"] == "spend_cap"
            assert "$0.02 of the $0.03 cap" in text(refused)
            assert "nothing was sent" in text(refused)
            assert "--max-cost" in text(refused)
            assert _posts(sharkapi_sandbox) == 1
            exact = await s.call("generate_image", {"prompt": "a shark", "mode": "1k"})
            assert not exact.is_error, text(exact)  # $0.03 reaches the cap, does not pass it
            again = await s.call("generate_image", {"prompt": "a shark", "mode": "1k"})
            assert again.structured_content["kind"] == "spend_cap"
            # No argument can raise it.
            raise_it = await s.call("generate_image", {"prompt": "a shark", "max_cost": "9"})
            assert raise_it.structured_content["kind"] == "invalid_argument"
            jobs = await s.call("list_jobs")
            assert jobs.structured_content["spend_counted"] == "0.03"
            assert jobs.structured_content["spend_remaining"] == "0.00"
        assert _posts(sharkapi_sandbox) == 2

    run(body)


def test_concurrent_calls_cannot_pass_the_cap_together(
    slow_sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with connect(slow_sandbox, tmp_path, max_cost=Decimal("0.02")) as s:
            async with anyio.create_task_group() as group:
                for i in range(5):
                    group.start_soon(s.call, "generate_image", {"prompt": f"shark {i}"})
            kinds = sorted(
                r.structured_content.get("kind", r.structured_content.get("status"))
                for r in s.results
            )
            assert kinds == ["complete", "complete", "spend_cap", "spend_cap", "spend_cap"]
        assert len(slow_sandbox.submissions()) == 2

    run(body)


def test_the_cap_forgets_refused_submits_but_keeps_those_that_may_have_created_a_job(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path, max_cost=Decimal("0.01")) as s:
            blocked = await s.call("generate_image", {"prompt": "a [blocked] shark"})
            assert blocked.structured_content["kind"] == "moderated"  # 422: no job
            sharkapi_sandbox.set_faults(rate_drop_after_create=1.0)
            unknown = await s.call("generate_image", {"prompt": "a shark"})
            sharkapi_sandbox.set_faults(rate_drop_after_create=0.0)
            assert unknown.is_error
            assert unknown.structured_content["kind"] == "outcome_unknown"
            assert unknown.structured_content["job_may_exist"] is True
            assert "Do NOT call generate_image again" in text(unknown)
            after = await s.call("generate_image", {"prompt": "a shark"})
            assert after.structured_content["kind"] == "spend_cap"
            jobs = await s.call("list_jobs")
            [entry] = jobs.structured_content["outcome_unknown_submits"]
            assert entry["status"] == "outcome_unknown"
            assert entry["prompt"] == "a shark"
        assert len(sharkapi_sandbox.submissions()) == 1  # the dropped one did create a job

    run(body)


def _png(path: Path) -> Path:
    Image.new("RGB", (8, 8), "navy").save(path, "PNG")
    return path


def test_paths_outside_the_allowed_directories_are_refused_before_anything_is_sent(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret_image = _png(outside / "secret.png")
    _png(allowed / "inside.png")
    (allowed / "link.png").symlink_to(secret_image)
    (allowed / "linkdir").symlink_to(outside, target_is_directory=True)
    refused = [
        str(secret_image),
        "../outside/secret.png",
        "link.png",
        "linkdir/secret.png",
        str(allowed / ".." / "outside" / "secret.png"),
        "/nonexistent-dir/x.png",
        "~/x.png",
    ]

    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            for path in refused:
                result = await s.call("generate_image", {"prompt": "p", "image_path": path})
                assert result.is_error, path
                assert result.structured_content["kind"] == "path_not_allowed", (path, text(result))
                assert str(allowed.resolve()) in text(result)
            assert _posts(sharkapi_sandbox) == 0
            assert sharkapi_sandbox.requests() == []
            ok = await s.call(
                "generate_image",
                {"prompt": "as a watercolor", "image_path": "inside.png", "image_strength": 0.7},
            )
            assert not ok.is_error, text(ok)
        [submission] = sharkapi_sandbox.submissions()
        assert submission.has_image

    run(body)


def test_an_allowed_file_over_the_size_limit_is_refused_before_it_is_read_whole(
    sharkapi_sandbox: Sandbox, tmp_path: Path
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    big = allowed / "big.png"
    with big.open("wb") as f:
        f.truncate(IMAGE_MAX_BYTES + 1)

    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            result = await s.call("generate_image", {"prompt": "p", "image_path": "big.png"})
            assert result.structured_content["kind"] == "invalid_argument"
            assert str(IMAGE_MAX_BYTES) in text(result)
        assert sharkapi_sandbox.requests() == []

    run(body)


@pytest.mark.parametrize(
    ("prompt", "kind", "has_job"),
    [
        ("a [blocked] shark", "moderated", False),
        ("a [moderate] shark", "moderated", True),
        ("a [fail] shark", "job_failed", True),
    ],
)
def test_moderation_and_failure_are_tool_errors_with_the_job_id(
    sharkapi_sandbox: Sandbox, tmp_path: Path, prompt: str, kind: str, has_job: bool
) -> None:
    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path) as s:
            result = await s.call("generate_image", {"prompt": prompt})
            assert result.is_error
            data = result.structured_content
            assert data["kind"] == kind
            assert "not charged" in text(result) or "nothing was charged" in text(result)
            if has_job:
                assert data["job_id"]
                assert data["job_id"] in text(result)
                assert [j.job_id for j in sharkapi_sandbox.submissions()] == [data["job_id"]]
            else:
                assert data["job_id"] is None
                assert sharkapi_sandbox.submissions() == []
        assert sharkapi_sandbox.ledger() == []

    run(body)


@pytest.mark.parametrize(
    ("setup", "token", "kind", "advice"),
    [
        ("poor", "sk_test_poor_wallet", "insufficient_balance", "top up"),
        ("none", "not_a_sandbox_token", "auth", "SHARKAPI_TOKEN"),
        ("revoked", "sk_test_revoked", "auth", "revoked"),
        ("429", None, "rate_limited", "no job was created"),
        ("503", None, "service_unavailable", "no job was created"),
        ("500", None, "outcome_unknown", "Do NOT call generate_image again"),
    ],
)
def test_sdk_errors_become_tool_errors_that_say_what_to_do(
    sharkapi_sandbox: Sandbox,
    tmp_path: Path,
    setup: str,
    token: str | None,
    kind: str,
    advice: str,
) -> None:
    if setup == "poor":
        sharkapi_sandbox.add_token(token, balance=Decimal("0.00"))
    elif setup == "revoked":
        sharkapi_sandbox.add_token(token, revoked=True)
    elif setup in {"429", "503", "500"}:
        sharkapi_sandbox.set_faults(**{f"rate_{setup}": 1.0})

    async def body() -> None:
        async with connect(sharkapi_sandbox, tmp_path, token=token, max_retries=0) as s:
            result = await s.call("generate_image", {"prompt": "a shark"})
            assert result.is_error
            assert result.structured_content["kind"] == kind, text(result)
            assert advice in text(result)
            assert result.structured_content["what_to_do"]

    run(body)


def test_the_token_appears_in_no_result_error_progress_or_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = "sk_test_" + secrets.token_hex(16)
    caplog.set_level(logging.DEBUG)

    async def body(sandbox: Sandbox) -> str:
        async with connect(sandbox, tmp_path, token=token, max_wait_seconds=0.2) as s:
            tools = await s.client.list_tools()
            await s.call("generate_image", {"prompt": "a shark"})  # pending (slow sandbox)
            job_id = s.results[-1].structured_content["job_id"]
            await s.call("generate_image", {"prompt": "a [blocked] shark"})
            await s.call("generate_image", {"prompt": "p", "image_path": "/etc/passwd"})
            await s.call("generate_image", {"prompt": ""})
            await s.call("get_job", {"job_id": "job_missing"})
            for _ in range(40):
                done = await s.call("wait_for_job", {"job_id": job_id})
                if done.structured_content.get("status") != "pending":
                    break
            await s.call("list_jobs")
            sandbox.set_faults(rate_500=1.0)
            await s.call("generate_image", {"prompt": "a shark"})
            assert len(s.results) >= 8
            return s.everything_sent() + str(tools) + (s.client.instructions or "")

    with Sandbox(SandboxConfig(queued_seconds=0.1, processing_seconds=0.4)) as sandbox:
        sent: list[str] = []

        async def runner() -> None:
            sent.append(await body(sandbox))

        run(runner)
    assert sent[0]
    assert token not in sent[0]
    assert token not in caplog.text
    assert any(r.name.startswith("sharkapi") for r in caplog.records)  # logs were captured
    assert token not in os.environ.get("SHARKAPI_TOKEN", "")


def test_without_a_token_every_tool_says_how_the_user_sets_it(tmp_path: Path) -> None:
    async def body() -> None:
        async with connect(None, tmp_path) as s:
            for name, args in [
                ("generate_image", {"prompt": "a shark"}),
                ("wait_for_job", {"job_id": "job_1"}),
                ("get_job", {"job_id": "job_1"}),
            ]:
                result = await s.call(name, args)
                assert result.is_error
                assert result.structured_content["kind"] == "auth"
                assert "SHARKAPI_TOKEN" in text(result)
                assert "env" in text(result)
                assert "Never ask the user to paste a token" in text(result)
                # No tool has a token argument: nothing may suggest passing one.
                assert "token=" not in text(result)
                assert "SHARKAPI_TOKEN is not set in this MCP server's environment" in text(result)

    run(body)
