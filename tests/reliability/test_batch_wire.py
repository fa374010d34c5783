"""After `kill -9`, a batch reports no more "outcome unknown" lines than submits on the wire.

A `sharkapi batch` subprocess with many lines in flight (``--concurrency 32``) but a
client rate limit of 4 requests a second (``--rate-limit 4``): most submits wait for
their turn at the pacing gate. It is killed with SIGKILL; then the journal's intents with
no answer after them (what a rerun reports as outcome unknown) are compared with what
the sandbox received and the journal never heard back about. Before issue 22 the intent
was journaled before the wait, so all 32 lines were "unknown" after the kill.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import cli_env, journal_lines, sharkapi

from sharkapi_ext.cli._journal import JOURNAL_NAME
from sharkapi_ext.sandbox import Sandbox, SandboxConfig


def test_kill_9_unknown_lines_never_exceed_submits_on_the_wire(tmp_path: Path) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("".join(f"wire shark {i}\n" for i in range(64)))
    out = tmp_path / "out"
    with Sandbox(SandboxConfig(queued_seconds=0.2, processing_seconds=0.3)) as sandbox:
        env = cli_env(SHARKAPI_TOKEN=sandbox.token, SHARKAPI_BASE_URL=sandbox.base_url)
        args = ["--poll-interval", "0.1", "batch", str(batch), "--out", str(out)]
        proc = sharkapi(*args, "--concurrency", "32", "--rate-limit", "4", env=env)
        try:
            deadline = time.monotonic() + 30
            while journal_lines(out) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.6)  # a few more submits go out at 4 a second
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.communicate(timeout=30)
        time.sleep(0.3)  # what was written to the socket reaches the sandbox
        created = {s.job_id for s in sandbox.submissions()}
    states: dict[str, dict[str, object]] = {}
    for text in (out / JOURNAL_NAME).read_text().splitlines():
        try:
            record = json.loads(text)
        except ValueError:
            continue  # the torn tail of the killed write
        if "key" in record:
            states[record["key"]] = record
    unknown = [k for k, r in states.items() if r["t"] in ("intent", "unknown")]
    journaled = {r.get("job_id") for r in states.values() if r.get("job_id")}
    on_the_wire = len(created - journaled)  # the server took them; the journal never heard
    assert created, "the batch was killed before any submit"
    print(f"unknown {len(unknown)}, on the wire {on_the_wire}, created {len(created)}")
    assert len(unknown) <= on_the_wire, (unknown, on_the_wire, len(created))
