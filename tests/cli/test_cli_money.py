"""`sharkapi batch` when the API's money does not fit the spec (issue 21, class 3).

A poll whose `cost` is `"$"` and a million nines used to end every run (and rerun) in an
untyped `decimal.Overflow`; a submit answer with such an `estimated_cost` was taken as
it came.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from money_server import JOB_ID, money_server

from sharkapi_ext.cli import cli
from sharkapi_ext.cli._journal import JOURNAL_NAME


def _run_twice(runner: CliRunner, tmp_path: Path, **faults: bool) -> tuple[list[str], int]:
    batch = tmp_path / "b.txt"
    batch.write_text("a shark\n")
    out = tmp_path / "out"
    outputs = []
    with money_server(**faults) as server:
        args = ["--base-url", server.base_url, "--token", server.token, "--poll-interval", "0.01"]
        for _ in range(2):  # and on the rerun
            result = runner.invoke(cli, [*args, "batch", str(batch), "--out", str(out)])
            assert isinstance(result.exception, SystemExit | None), repr(result.exception)
            assert "Overflow" not in result.output
            assert "nothing was submitted" not in result.output.lower()
            outputs.append(f"{result.exit_code}\n{result.output}")
        submits = len(server.submits)
    records = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]
    assert any(r.get("job_id") == JOB_ID for r in records), records
    return outputs, submits


def test_a_poll_with_huge_cost_is_a_typed_failure_naming_the_job(
    runner: CliRunner, tmp_path: Path
) -> None:
    outputs, submits = _run_twice(runner, tmp_path, bad_submit=False, bad_poll=True)
    for output in outputs:
        assert output.startswith("7\n"), output[:2000]
        assert "UnexpectedResponseError" in output, output[:2000]
        assert JOB_ID in output, output[:2000]
        assert "'cost'" in output
    assert submits == 1  # the job exists: the rerun does not pay again


def test_a_submit_answer_with_huge_estimate_keeps_the_job_and_never_resubmits(
    runner: CliRunner, tmp_path: Path
) -> None:
    outputs, submits = _run_twice(runner, tmp_path, bad_submit=True, bad_poll=False)
    assert outputs[0].startswith("0\n"), outputs[0][:2000]  # adopted by id, then finished
    assert submits == 1
