"""Every code block of README.md runs, and its `# -> ...` comments are its real output.

Python blocks run as scripts (or, when they define tests, under pytest) against a local
sandbox that stands in for the API: `SHARKAPI_BASE_URL` and `SHARKAPI_TOKEN` point at it.
In a Python block, a trailing ``# -> TEXT`` comment is what that line prints; ``…``
stands for any text. Shell blocks run line by line through the `sharkapi` command
against the same sandbox; the few lines that cannot run inside the test suite are
listed in NOT_RUN with the reason, and a README line that is neither run nor listed
fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sharkapi_ext import SharkAPI
from sharkapi_ext.cli import cli
from sharkapi_ext.sandbox import Sandbox, SandboxConfig

README = Path(__file__).resolve().parents[2] / "README.md"
# Queued for a whole second: a block that prints a job's status right after its submit
# sees "queued" even on a busy machine; a finished job still takes the one default poll.
FAST = SandboxConfig(queued_seconds=1.0, processing_seconds=0.1)

#: Shell commands the suite does not run, and why.
NOT_RUN = {
    # A fresh venv and install take minutes; this suite runs inside exactly such an
    # install (scripts/test makes it), and the first line's last command runs below.
    "python3 -m venv .venv": "the install this suite runs in",
    ".venv/bin/pip install -q -e '.[cli]'": "the install this suite runs in",
    "scripts/test": "the command that runs this suite",
    "scripts/regenerate": "rewrites generated/; scripts/test runs the --check form",
    "scripts/regenerate --check": "scripts/test runs it before pytest",
    "scripts/api-diff --strict": "scripts/test runs it before pytest",
    "scripts/spec-evolution": "minutes on copies of the checkout; tests/spec runs a quick one",
    "SHARKAPI_TOKEN=sk_... scripts/contract-test --base-url https://staging.example.com "
    "--max-cost 0.10": "needs a staging server; tests/contract runs it on a sandbox",
}


def blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def expected_outputs(code: str) -> list[re.Pattern[str]]:
    patterns = []
    for line in code.splitlines():
        _, sep, comment = line.partition("  # -> ")
        if sep:
            parts = [re.escape(part) for part in comment.strip().split("…")]
            patterns.append(re.compile(".*".join(parts)))
    return patterns


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(FAST) as sandbox:
        yield sandbox


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # No input image here: a README example that reads one must make it first.
    (tmp_path / "prompts.txt").write_text("a shark\ntwo sharks\n")
    return tmp_path


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without the developer's own SHARKAPI_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARKAPI_")}
    return {**env, **extra, "PYTHONUNBUFFERED": "1"}


def env_for(sandbox: Sandbox) -> dict[str, str]:
    return cli_env(SHARKAPI_BASE_URL=sandbox.base_url, SHARKAPI_TOKEN=sandbox.token)


def test_readme_has_the_blocks_this_test_expects() -> None:
    assert len(blocks("python")) >= 5
    assert any("generate_image.sync_detailed(" in code for code in blocks("python"))
    assert any("sharkapi_client" in code and "def test_" in code for code in blocks("python"))


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_block(index: int, sandbox: Sandbox, workdir: Path) -> None:
    code = blocks("python")[index]
    script = workdir / f"block_{index}.py"
    if "def test_" in code:
        script = workdir / f"test_block_{index}.py"
        script.write_text(code)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", script.name]
    else:
        script.write_text(code)
        command = [sys.executable, script.name]
    done = subprocess.run(
        command, cwd=workdir, env=env_for(sandbox), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    printed = done.stdout.splitlines()
    for pattern in expected_outputs(code):
        assert any(pattern.fullmatch(line) for line in printed), (pattern.pattern, printed)


def shell_lines() -> list[str]:
    """Every command of the README's shell blocks, `a && b` split, comments removed."""
    lines = []
    for language in ("bash", "sh"):
        for code in blocks(language):
            for line in code.splitlines():
                for command in line.split("  #")[0].split(" && "):
                    if command.strip():
                        lines.append(command.strip())
    return lines


def test_every_shell_line_is_run_or_accounted_for(
    sandbox: Sandbox, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    job_id = None
    ran = []
    for line in shell_lines():
        if line in NOT_RUN:
            continue
        # The README's first command, once installed: the same `sharkapi` as here.
        command = line.removeprefix(".venv/bin/")
        assert command.startswith("sharkapi "), f"README line neither run nor in NOT_RUN: {line!r}"
        words = shlex.split(command)[1:]
        if words[0] == "sandbox":
            run_sandbox_command(words)
            ran.append(command)
            continue
        if "JOB_ID" in words:
            if job_id is None:
                with SharkAPI(sandbox.token, base_url=sandbox.base_url) as client:
                    job_id = client.submit("a shark", mode="1k").job_id
            words = [job_id if word == "JOB_ID" else word for word in words]
        result = CliRunner().invoke(
            cli, ["--poll-interval", "0.02", *words], env=env_for(sandbox), catch_exceptions=False
        )
        assert result.exit_code == 0, (line, result.output)
        ran.append(command)
    assert any(line.startswith("sharkapi generate --sandbox") for line in ran)
    assert any(line.startswith("sharkapi batch") for line in ran)
    assert (workdir / "shark.png").is_file()


def run_sandbox_command(words: list[str]) -> None:
    # The README's port may be taken on this machine: the same command on a free port.
    words = [*words[:-1], "0"] if words[-2:-1] == ["--port"] else words
    process = subprocess.Popen(
        [sys.executable, "-m", "sharkapi_ext.cli", *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("SharkAPI sandbox on http://127.0.0.1:"), banner
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_not_run_lines_are_still_in_the_readme() -> None:
    lines = set(shell_lines())
    stale = [line for line in NOT_RUN if line not in lines]
    assert stale == [], textwrap.shorten(str(stale), 300)
