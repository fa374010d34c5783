"""Ctrl-C at each step of a command: always exit 130 and a message naming any job.

Each case starts `sharkapi` in a child process that pauses at one step (see
`interrupt_points.py`) and sends SIGINT there, so the interrupt lands at that step on
every run, not at a random moment.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import cli_env

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

POINTS = Path(__file__).with_name("interrupt_points.py")
NOTHING = "Interrupted; nothing was submitted."
MAY_EXIST = "Interrupted before the job id was known; a job may have been created."


def interrupt_at(point: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `sharkapi ARGS`, send SIGINT when it pauses at POINT, and wait for it to end."""
    proc = subprocess.Popen(
        [sys.executable, str(POINTS), point, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("PAUSED "):
                break
        else:
            pytest.fail(f"never paused at {point}: {''.join(seen)}")
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test already failed
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, "".join(seen) + rest)


@pytest.fixture
def api() -> Iterator[Sandbox]:
    # Jobs finish quickly, so the download and closing points are reached.
    with Sandbox(SandboxConfig(queued_seconds=0.05, processing_seconds=0.1)) as sandbox:
        yield sandbox


def _env(sandbox: Sandbox) -> dict[str, str]:
    return cli_env(SHARKAPI_BASE_URL=sandbox.base_url, SHARKAPI_TOKEN=sandbox.token)


def _resume(job_id: str, sandbox: Sandbox, out: Path) -> str:
    words = ["sharkapi", "wait", job_id, "--base-url", sandbox.base_url, "-o", str(out)]
    return f"Resume with: {shlex.join(words)}"


def _interrupted(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 130, result.stderr
    assert "Aborted!" not in result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Interrupted"))
    return lines[start:]


@pytest.mark.parametrize("point", ["import", "import-exec", "import-command", "sandbox-start"])
def test_interrupt_before_anything_is_sent(point: str, tmp_path: Path) -> None:
    result = interrupt_at(
        point, "generate", "--sandbox", "a shark", "-o", str(tmp_path / "s.png"), env=cli_env()
    )
    assert _interrupted(result) == [NOTHING]


def test_interrupt_while_the_submit_is_answered(api: Sandbox, tmp_path: Path) -> None:
    result = interrupt_at(
        "submit-sent", "generate", "a shark", "-o", str(tmp_path / "s.png"), env=_env(api)
    )
    [job] = api.submissions()  # the server created it: the message must say so
    message = _interrupted(result)
    assert message[0] == MAY_EXIST or job.job_id in message[0], message


def test_interrupt_while_waiting_names_the_job(api: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    result = interrupt_at("wait", "generate", "a shark", "-o", str(out), env=_env(api))
    [job] = api.submissions()
    assert _interrupted(result) == [
        f"Interrupted. Job {job.job_id} is still running.",
        _resume(job.job_id, api, out),
    ]


def test_an_interrupt_python_swallows_still_stops_the_command(api: Sandbox, tmp_path: Path) -> None:
    """A Ctrl-C inside a ``__del__`` is "ignored" by Python: it must stop the command anyway."""
    out = tmp_path / "s.png"
    result = interrupt_at("wait-in-del", "generate", "a shark", "-o", str(out), env=_env(api))
    [job] = api.submissions()
    assert _interrupted(result) == [
        f"Interrupted. Job {job.job_id} is still running.",
        _resume(job.job_id, api, out),
    ]
    assert "Exception ignored" not in result.stderr
    assert not out.exists()


def test_interrupt_during_the_download_says_the_job_is_paid(api: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    args = ["generate", "a shark", "-o", str(out), "--poll-interval", "0.05"]
    result = interrupt_at("download", *args, env=_env(api))
    [job] = api.submissions()
    assert _interrupted(result) == [
        f"Interrupted. Job {job.job_id} is complete and paid for; its image was not saved.",
        _resume(job.job_id, api, out),
    ]
    assert not out.exists()


def test_interrupt_after_the_image_is_saved(api: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    args = ["generate", "a shark", "-o", str(out), "--poll-interval", "0.05"]
    result = interrupt_at("closing", *args, env=_env(api))
    [job] = api.submissions()
    assert result.stdout.startswith(f"Saved {out} (job {job.job_id}")
    assert _interrupted(result) == [
        f"Interrupted. Job {job.job_id} is complete; its image is saved: {out}"
    ]


def test_interrupt_during_a_batch_says_how_to_resume(api: Sandbox, tmp_path: Path) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("one\ntwo\n")
    out = tmp_path / "out"
    result = interrupt_at("batch-submit", "batch", str(batch), "--out", str(out), env=_env(api))
    assert _interrupted(result) == ["Interrupted. Run the same command again to resume the batch."]
    # Interrupted before its first byte was written: no intent (the aiohttp transport
    # journals it as the request goes on the wire), nothing "outcome unknown", and no
    # job at the API. The rerun submits it, once.
    assert api.submissions() == []
    assert not re.search(r'"t":"(intent|unknown)"', (out / ".sharkapi-journal.jsonl").read_text())
