"""Behaviour that needs a real process: Ctrl-C during a wait, and `sharkapi sandbox`."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_helpers import cli_env, sharkapi
from click.testing import CliRunner
from PIL import Image

from sharkapi_ext.cli import cli
from sharkapi_ext.sandbox import Sandbox, SandboxConfig


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    # Jobs never finish during the test, so the CLI is surely waiting when interrupted.
    with Sandbox(SandboxConfig(queued_seconds=0.05, processing_seconds=60)) as sandbox:
        yield sandbox


def _interrupt_when_waiting(proc: subprocess.Popen[str]) -> tuple[str, str]:
    assert proc.stderr is not None
    first = proc.stderr.readline()  # plain mode: "job <id>: <status> (...)"
    assert first.startswith("job "), first
    proc.send_signal(signal.SIGINT)
    stdout, rest = proc.communicate(timeout=20)
    return stdout, first + rest


def test_ctrl_c_during_wait_prints_the_resume_command(
    slow_sandbox: Sandbox, tmp_path: Path
) -> None:
    response = httpx.post(
        f"{slow_sandbox.base_url}/v1/generate",
        json={"prompt": "a patient shark", "mode": "1k"},
        headers={"Authorization": f"Bearer {slow_sandbox.token}"},
    )
    job_id = response.json()["job_id"]
    out = tmp_path / "a b.png"
    proc = sharkapi(
        "--base-url",
        slow_sandbox.base_url,
        "--poll-interval",
        "0.05",
        "wait",
        job_id,
        "-o",
        str(out),
        env=cli_env(SHARKAPI_TOKEN=slow_sandbox.token),
    )
    _, stderr = _interrupt_when_waiting(proc)
    assert proc.returncode == 130
    assert f"Job {job_id} is still running" in stderr
    assert f"Resume with: sharkapi wait {job_id} --base-url {slow_sandbox.base_url} -o '{out}'" in (
        stderr
    )
    assert "Traceback" not in stderr
    assert slow_sandbox.token not in stderr


def test_ctrl_c_during_generate_names_the_job(slow_sandbox: Sandbox, tmp_path: Path) -> None:
    proc = sharkapi(
        "generate",
        "a shark that takes its time",
        "-o",
        str(tmp_path / "s.png"),
        "--poll-interval",
        "0.05",
        env=cli_env(SHARKAPI_TOKEN=slow_sandbox.token, SHARKAPI_BASE_URL=slow_sandbox.base_url),
    )
    _, stderr = _interrupt_when_waiting(proc)
    assert proc.returncode == 130
    match = re.search(r"Resume with: sharkapi wait (\S+) .*-o ", stderr)
    assert match, stderr
    assert [s.job_id for s in slow_sandbox.submissions()] == [match.group(1)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_sandbox_command_serves_until_interrupted(runner: CliRunner, tmp_path: Path) -> None:
    port = _free_port()
    proc = sharkapi(
        "sandbox", "--port", str(port), "--job-seconds", "0.2", "--balance", "0.05", env=cli_env()
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == f"SharkAPI sandbox on http://127.0.0.1:{port}"
        token_line = proc.stdout.readline()
        assert token_line.strip() == "Ready token: sk_test_sandbox"
        base_url = f"http://127.0.0.1:{port}"
        for _ in range(200):  # the banner is printed just before uvicorn binds
            try:
                httpx.get(f"{base_url}/_sandbox/ledger", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.02)
        out = tmp_path / "s.png"
        args = ["--base-url", base_url, "--token", "sk_test_sandbox", "--poll-interval", "0.05"]
        result = runner.invoke(cli, [*args, "generate", "a served shark", "-o", str(out)])
        assert result.exit_code == 0, result.output
        with Image.open(out) as image:
            assert image.size == (1024, 1024)
        ledger = httpx.get(f"{base_url}/_sandbox/ledger").json()
        assert len(ledger["charges"] if isinstance(ledger, dict) else ledger) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
