"""Ctrl-C at random moments of `sharkapi generate`: exit 130, and every paid job named.

Each run starts `sharkapi generate` in a child process (`tests/cli/interrupt_points.py`,
with no pause), waits for ``STARTED`` (written just before `main` is called: Python's
own start-up and ``import sharkapi_ext`` come before it, and are not the CLI's), sleeps
a seeded random delay and sends SIGINT. Two settings:

* against a sandbox this test runs, so that the jobs the server created (and charged)
  can be compared with what the message said;
* with ``--sandbox``, whose in-process server starts and stops inside the command,
  adding those moments to the ones hit.

A run passes when it exits 130 with the documented message (no ``Aborted!``, no
traceback), or had already finished (exit 0, the image saved) when the signal came; and
when a job the server created is named by its id, or the message says a job may have
been created.
"""

from __future__ import annotations

import collections
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from reliability_helpers import record, scale

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import cli_env

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

POINTS = Path(__file__).resolve().parents[1] / "cli" / "interrupt_points.py"
RUNS = scale("SHARKAPI_CLI_INTERRUPTS_N", 8)  # per setting
SEED = 21
# Long enough to cover a whole `generate` (submit, 1 s of job, download, teardown).
LATEST = 3.0
MAY_EXIST = "a job may have been created"


def _run(args: list[str], env: dict[str, str], delay: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [sys.executable, str(POINTS), "none", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first == "STARTED\n", first
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _outcome(result: subprocess.CompletedProcess[str], created: set[str] | None) -> str:
    """One run's class: finished, interrupted-named, interrupted-none, or a failure."""
    message = "\n".join(
        line for line in result.stderr.splitlines() if line.startswith(("Interrupted", "Resume"))
    )
    if result.returncode == 0 and result.stdout.startswith("Saved "):
        return "finished before the signal"
    if (
        result.returncode != 130
        or not message
        or "Aborted!" in result.stderr
        or "Traceback" in result.stderr
    ):
        return f"FAILED: exit {result.returncode}: {result.stderr[-300:]!r}"
    if created:  # the server created a job: it must be named, or said to exist
        if all(job_id in message for job_id in created):
            return "exit 130, job named"
        if MAY_EXIST in message:
            return "exit 130, job said to exist"
        return f"FAILED: job {sorted(created)} not named: {message!r}"
    if "Job job_" in message:
        return "exit 130, job named"
    if MAY_EXIST in message:
        return "exit 130, job said to exist"
    return "exit 130, nothing submitted"


def test_ctrl_c_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    outcomes: dict[str, collections.Counter[str]] = {}
    failures = []
    config = SandboxConfig(queued_seconds=0.25, processing_seconds=0.75)
    with Sandbox(config) as api:
        env = cli_env(SHARKAPI_BASE_URL=api.base_url, SHARKAPI_TOKEN=api.token)
        settings = {
            "sandbox run by the test": (env, []),
            "--sandbox": (cli_env(), ["--sandbox"]),
        }
        for name, (run_env, extra) in settings.items():
            counts = outcomes.setdefault(name, collections.Counter())
            for index in range(RUNS):
                before = {s.job_id for s in api.submissions()}
                out = tmp_path / f"{len(before)}-{index}.png"
                delay = rng.uniform(0, LATEST)
                args = ["generate", "a shark", "-o", str(out), "--poll-interval", "0.1", *extra]
                result = _run(args, run_env, delay)
                created = None if extra else {s.job_id for s in api.submissions()} - before
                outcome = _outcome(result, created)
                counts[outcome.split(":")[0]] += 1
                if outcome.startswith("FAILED"):
                    failures.append(f"{name}, {delay:.2f} s: {outcome}")
    record(
        "cli_interrupts",
        {
            "runs": 2 * RUNS,
            "latest_delay_seconds": LATEST,
            "seed": SEED,
            "outcomes": {name: dict(counts) for name, counts in outcomes.items()},
            "failures": len(failures),
        },
    )
    assert not failures, "\n".join(failures)
