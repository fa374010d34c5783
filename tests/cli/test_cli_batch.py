"""`sharkapi batch` in process: file formats, failures, account errors, outcome unknown."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from sharkapi_ext.cli import cli
from sharkapi_ext.cli._journal import JOURNAL_NAME
from sharkapi_ext.sandbox import Sandbox


def _records(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]


def test_json_lines_and_failures(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "src.png"
    Image.new("RGB", (64, 64), "red").save(source)
    batch = tmp_path / "b.jsonl"
    batch.write_text(
        "\n".join(
            [
                "a plain prompt",
                "# a comment",
                "",
                json.dumps({"prompt": "big", "mode": "2k"}),
                json.dumps({"prompt": "edit", "image": str(source), "image_strength": 0.7}),
                json.dumps({"prompt": "a [fail] one"}),
                json.dumps({"prompt": "a [moderate] one"}),
                "a [blocked] one",
            ]
        )
    )
    out = tmp_path / "out"
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert result.exit_code == 7, result.output
    assert "Images: 3/6" in result.stdout
    assert "Failures: 3 (JobFailedError 1, JobModeratedError 1, ModerationError 1)" in (
        result.stdout
    )
    assert "Total cost: $0.04" in result.stdout
    assert sorted(p.name[:5] for p in out.glob("*.png")) == ["00001", "00004", "00005"]
    with Image.open(next(out.glob("00004-*.png"))) as image:
        assert image.size == (2048, 2048)
    submitted = len(sandbox.submissions())

    # Run again: nothing is submitted or downloaded again; the summary is the same.
    again = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert again.exit_code == 7
    assert "Images: 3/6" in again.stdout
    assert "(0 downloaded by this run)" in again.stdout
    assert len(sandbox.submissions()) == submitted


def test_missing_image_is_downloaded_again_without_resubmitting(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("one\ntwo\n")
    out = tmp_path / "out"
    assert runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)]).exit_code == 0
    victim = next(out.glob("00002-*.png"))
    victim.unlink()
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert result.exit_code == 0
    assert "(1 downloaded by this run)" in result.stdout
    assert victim.is_file()
    assert len(sandbox.submissions()) == 2
    assert len(sandbox.ledger()) == 2


def test_balance_stops_new_submissions(runner: CliRunner, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_token("sk_test_two_cents", balance=Decimal("0.02"))
    args = ["--base-url", sandbox.base_url, "--token", "sk_test_two_cents"]
    args += ["--poll-interval", "0.02"]
    batch = tmp_path / "b.txt"
    batch.write_text("\n".join(f"prompt {i}" for i in range(6)))
    out = tmp_path / "out"
    result = runner.invoke(
        cli, [*args, "batch", str(batch), "--out", str(out), "--concurrency", "1"]
    )
    assert result.exit_code == 4, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("InsufficientBalanceError: ")
    assert "Images: 2/6" in result.stdout
    assert "Not submitted: 3" in result.stdout
    assert len(sandbox.submissions()) == 2


def test_outcome_unknown_is_reported_not_resubmitted(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("lost one\n")
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out)]
    sandbox.set_faults(rate_drop_after_create=1.0)
    first = runner.invoke(cli, cmd)
    assert first.exit_code == 9
    assert "Outcome unknown: 1 (lines 1)" in first.stdout
    sandbox.set_faults(rate_drop_after_create=0.0)

    second = runner.invoke(cli, cmd)
    assert second.exit_code == 9
    assert len(sandbox.submissions()) == 1  # still only the first, lost, submission

    # The operator found the job: adopt it rather than paying twice.
    job_id = sandbox.submissions()[0].job_id
    third = runner.invoke(cli, [*cmd, "--adopt", f"1:{job_id}"])
    assert third.exit_code == 0, third.output
    assert len(sandbox.submissions()) == 1
    assert [r["t"] for r in _records(out)] == ["intent", "unknown", "job", "done"]


def test_unreadable_2xx_submit_is_resumed_not_resubmitted(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    """A 2xx the SDK cannot parse still created the job: its id is kept and resumed."""
    batch = tmp_path / "b.txt"
    batch.write_text("garbled answer\n")
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out)]
    sandbox.set_faults(bad_schema=True)  # estimated_cost comes back as a number
    first = runner.invoke(cli, cmd)
    assert first.exit_code != 0
    job_id = sandbox.submissions()[0].job_id
    assert [r["t"] for r in _records(out)][:2] == ["intent", "job"]
    assert _records(out)[1]["job_id"] == job_id
    sandbox.set_faults(bad_schema=False)

    second = runner.invoke(cli, cmd)
    assert second.exit_code == 0, second.output
    assert len(sandbox.submissions()) == 1
    assert len(list(out.glob("*.png"))) == 1


def test_resubmit_unknown_on_request(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("lost one\n")
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out)]
    sandbox.set_faults(rate_drop_after_create=1.0)
    assert runner.invoke(cli, cmd).exit_code == 9
    sandbox.set_faults(rate_drop_after_create=0.0)
    result = runner.invoke(cli, [*cmd, "--resubmit-unknown"])
    assert result.exit_code == 0
    assert len(sandbox.submissions()) == 2  # the user asked for it


def test_bad_adopt_and_bad_file(runner: CliRunner, api_args: list[str], tmp_path: Path) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("fine\n{not json\n")
    out = tmp_path / "out"
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert result.exit_code == 2
    assert "b.txt:2" in result.output
    batch.write_text("fine\n")
    result = runner.invoke(
        cli, [*api_args, "batch", str(batch), "--out", str(out), "--adopt", "1:job_x"]
    )
    assert result.exit_code == 2
    assert "not outcome-unknown" in result.output
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out), "--adopt", "x"])
    assert result.exit_code == 2


def test_journal_holds_no_token_or_prompt(
    runner: CliRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    secret = "sk_test_very_secret_value"
    args = ["--base-url", sandbox.base_url, "--token", secret, "--poll-interval", "0.02"]
    batch = tmp_path / "b.txt"
    batch.write_text("a private prompt\n")
    out = tmp_path / "out"
    result = runner.invoke(cli, [*args, "batch", str(batch), "--out", str(out)])
    assert result.exit_code == 0
    text = (out / JOURNAL_NAME).read_text()
    assert secret not in text
    assert "private prompt" not in text
    assert secret not in result.output


def _lost_submit(runner: CliRunner, sandbox: Sandbox, cmd: list[str]) -> str:
    """Run a one-line batch whose submit is lost; the id of the job the server created."""
    sandbox.set_faults(rate_drop_after_create=1.0)
    assert runner.invoke(cli, cmd).exit_code == 9
    sandbox.set_faults(rate_drop_after_create=0.0)
    [submission] = sandbox.submissions()
    return submission.job_id


def test_adopt_refuses_an_id_outside_the_spec_pattern(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("lost one\n")
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out)]
    job_id = _lost_submit(runner, sandbox, cmd)
    journal = (out / JOURNAL_NAME).read_bytes()
    for typo in [f"{job_id} ", f"{job_id}/", "job 1", "x" * 129, f"{job_id}\n", "é"]:
        result = runner.invoke(cli, [*cmd, "--adopt", f"1:{typo}"])
        assert result.exit_code == 2, (typo, result.output)
        assert "job_id: must be 1 to 128 letters" in result.stderr, result.stderr
        assert (out / JOURNAL_NAME).read_bytes() == journal  # nothing journaled
    fixed = runner.invoke(cli, [*cmd, "--adopt", f"1:{job_id}"])
    assert fixed.exit_code == 0, fixed.output
    assert len(sandbox.submissions()) == 1


def test_a_later_adopt_corrects_an_adopted_job_that_was_not_found(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("lost one\n")
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out)]
    job_id = _lost_submit(runner, sandbox, cmd)
    typo = job_id[:-1] + ("0" if job_id[-1] != "0" else "1")  # well-formed, but no such job
    wrong = runner.invoke(cli, [*cmd, "--adopt", f"1:{typo}"])
    assert wrong.exit_code == 7, wrong.output
    assert "NotFoundError" in wrong.stdout
    assert "--adopt 1:JOB_ID" in wrong.stdout  # says how to correct it

    fixed = runner.invoke(cli, [*cmd, "--adopt", f"1:{job_id}"])
    assert fixed.exit_code == 0, fixed.output
    assert "Images: 1/1" in fixed.stdout
    assert len(sandbox.submissions()) == 1  # paid once, fetched at last
    assert [r.get("job_id") for r in _records(out) if r["t"] == "done"] == [job_id]
    # A job that was found and finished is not replaced by another --adopt.
    again = runner.invoke(cli, [*cmd, "--adopt", f"1:{typo}"])
    assert again.exit_code == 2
    assert "not outcome-unknown (done" in again.stderr
