"""`sharkapi batch` killed with SIGKILL at seeded points and resumed, over several seeds.

Reuses the CLI's own kill-and-resume test (tests/cli/test_cli_batch_resume.py) for the
mechanics, with seeds of its own, and reads the figures from the sandbox afterwards:
duplicate submissions, charges per prompt, images on disk, the token in the journal.
"""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
import test_cli_batch_resume as resume
from cli_helpers import SECRET

from sharkapi_ext.cli._journal import JOURNAL_NAME
from sharkapi_ext.sandbox import Sandbox, SandboxConfig

SEEDS = [int(s) for s in os.environ.get("SHARKAPI_RELIABILITY_RESUME_SEEDS", "101,102").split(",")]
RUNS: list[dict[str, object]] = []


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_kill_and_resume(seed: int, tmp_path: Path) -> None:
    with Sandbox(SandboxConfig(queued_seconds=0.03, processing_seconds=0.1)) as sandbox:
        error: BaseException | None = None
        try:
            resume.test_batch_killed_and_resumed(sandbox, tmp_path, seed)
        except BaseException as exc:
            error = exc
        prompts = {f"shark {seed}-{i} in deep water" for i in range(resume.PROMPTS)}
        subs = [s for s in sandbox.submissions() if s.prompt in prompts]
        created = collections.Counter(s.prompt for s in subs)
        charges = collections.Counter(c.job_id for c in sandbox.ledger())
        journal = tmp_path / "out" / JOURNAL_NAME
    RUNS.append(
        {
            "seed": seed,
            "kills": resume.KILLS,
            "prompts": resume.PROMPTS,
            "passed": error is None,
            "images": len(list((tmp_path / "out").glob("*.png"))),
            "duplicate_submissions": sum(n - 1 for n in created.values() if n > 1),
            "prompts_never_submitted": len(prompts - set(created)),
            "charges_per_prompt": dict(collections.Counter(charges[s.job_id] for s in subs)),
            "token_in_journal": journal.exists() and SECRET in journal.read_text(),
        }
    )
    if error is not None:
        raise error
