"""`status` and `wait` resume a job by id; output is plain when not on a terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from click.testing import CliRunner
from PIL import Image

from sharkapi_ext.cli import cli
from sharkapi_ext.sandbox import Sandbox


def _submit(sandbox: Sandbox, prompt: str = "a tiger shark") -> str:
    response = httpx.post(
        f"{sandbox.base_url}/v1/generate",
        json={"prompt": prompt, "mode": "1k"},
        headers={"Authorization": f"Bearer {sandbox.token}"},
    )
    response.raise_for_status()
    job_id: str = response.json()["job_id"]
    return job_id


def test_status_text_and_json(runner: CliRunner, sandbox: Sandbox, api_args: list[str]) -> None:
    job_id = _submit(sandbox)
    result = runner.invoke(cli, [*api_args, "status", job_id])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"job {job_id}: ")
    result = runner.invoke(cli, [*api_args, "status", job_id, "--json"])
    data = json.loads(result.stdout)
    assert data["job_id"] == job_id
    assert data["mode"] == "1k"
    assert data["estimated_cost"] == "0.01"
    assert len(sandbox.submissions()) == 1


def test_wait_downloads_without_resubmitting(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    job_id = _submit(sandbox)
    out = tmp_path / "t.png"
    result = runner.invoke(cli, [*api_args, "wait", job_id, "-o", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (1024, 1024)
    assert f"Saved {out} (job {job_id}, cost $0.01)" in result.stdout
    assert len(sandbox.submissions()) == 1
    assert len(sandbox.ledger()) == 1


def test_wait_json(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    job_id = _submit(sandbox)
    result = runner.invoke(cli, [*api_args, "wait", job_id, "-o", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "complete"
    assert data["cost"] == "0.01"
    assert data["path"] == str(tmp_path / f"{job_id}.png")


def test_plain_output_when_not_a_terminal(
    runner: CliRunner, api_args: list[str], tmp_path: Path
) -> None:
    result = runner.invoke(cli, [*api_args, "generate", "a shark", "-o", str(tmp_path / "s.png")])
    assert result.exit_code == 0
    assert "\x1b[" not in result.output  # no ANSI control sequences
    statuses = re.findall(r"^job \S+: (\w+) \(", result.stderr, flags=re.MULTILINE)
    assert statuses[0] == "queued"
    assert statuses[-1] == "complete"
    assert len(statuses) == len(set(statuses))  # one line per change


def test_subcommand_options_override_global(
    runner: CliRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    job_id = _submit(sandbox)
    result = runner.invoke(
        cli,
        [
            *("--base-url", "https://wrong.invalid", "status", job_id),
            *("--base-url", sandbox.base_url, "--token", sandbox.token),
        ],
    )
    assert result.exit_code == 0, result.output


def test_env_variables(runner: CliRunner, sandbox: Sandbox) -> None:
    job_id = _submit(sandbox)
    env = {"SHARKAPI_BASE_URL": sandbox.base_url, "SHARKAPI_TOKEN": sandbox.token}
    result = runner.invoke(cli, ["status", job_id], env=env)
    assert result.exit_code == 0, result.output


def test_no_resume_hint_for_a_job_that_cannot_exist(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    """A 404 or an id outside the spec's pattern names no job to come back to."""
    cases = [
        ([*api_args, "wait", "nonsense"], "NotFoundError: "),
        (["wait", "nonsense", "--sandbox"], "NotFoundError: "),
        ([*api_args, "wait", "no such job", "-o", str(tmp_path / "x.png")], "InvalidRequestError"),
        ([*api_args, "wait", "x" * 129], "InvalidRequestError: job_id: "),
    ]
    for args, error in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.splitlines()[-1].startswith(error), result.stderr
        assert "Resume with" not in result.output
        assert "sandbox, which has stopped" not in result.output
        assert "waiting" not in result.output or error.startswith("NotFound"), result.output
    assert sandbox.submissions() == []
