"""`sharkapi batch` for big work (issue 22): caps, dry run, retrying failed lines, streaming.

In process, against the fast sandbox: `--dry-run`, `--max-cost` (and a rerun with a
higher cap), `--retry-failed`, jobs of a vanished `--sandbox`, and the journal's group
commits and compaction; the plan's streaming pass is measured with tracemalloc.
"""

from __future__ import annotations

import json
import os
import threading
import tracemalloc
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sharkapi_spec import MODE_PRICES

from sharkapi_ext.cli import cli
from sharkapi_ext.cli._batch import BatchError, BatchOptions, plan_batch
from sharkapi_ext.cli._journal import JOURNAL_NAME, FinishedLines, Journal
from sharkapi_ext.sandbox import Sandbox


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dry_run_prints_the_list_price_total_and_sends_nothing(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    modes = ["1k", "2k", "1k", "2k", "1k"]
    batch = _write(
        tmp_path / "b.jsonl",
        [json.dumps({"prompt": f"shark {i}", "mode": m}) for i, m in enumerate(modes)],
    )
    out = tmp_path / "out"
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out), "--dry-run"])
    assert result.exit_code == 0, result.output
    total = sum((MODE_PRICES[m] for m in modes), Decimal(0))
    assert f"5 requests, ${total:.2f} at list price" in result.stdout
    assert sandbox.submissions() == []
    assert not out.exists()  # not even the journal


def test_dry_run_checks_every_line_as_a_real_run(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = _write(tmp_path / "b.jsonl", ["fine", json.dumps({"prompt": "x", "mode": "9k"}), "{"])
    result = runner.invoke(
        cli, [*api_args, "batch", str(batch), "--out", str(tmp_path / "o"), "--dry-run"]
    )
    assert result.exit_code == 2
    assert f"{batch}:2: InvalidRequestError: mode" in result.stderr
    assert f"{batch}:3: not valid JSON" in result.stderr
    assert sandbox.submissions() == []


def test_max_cost_stops_the_batch_and_a_higher_cap_resumes(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    prompts = [f"capped shark {i}" for i in range(6)]
    batch = _write(tmp_path / "b.txt", prompts)
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out), "--concurrency", "4"]

    first = runner.invoke(cli, [*cmd, "--max-cost", "0.03"])
    assert first.exit_code == 7, first.output
    assert "Spend cap reached: $0.03 of the $0.03 cap counted (all runs); 3 not submitted" in (
        first.stdout
    )
    assert len(sandbox.submissions()) == 3
    assert len(list(out.glob("*.png"))) == 3

    # The same cap again: what the journal holds counts, so nothing more is sent.
    same = runner.invoke(cli, [*cmd, "--max-cost", "0.03"])
    assert same.exit_code == 7, same.output
    assert len(sandbox.submissions()) == 3

    higher = runner.invoke(cli, [*cmd, "--max-cost", "0.10"])
    assert higher.exit_code == 0, higher.output
    assert "Images: 6/6" in higher.stdout
    assert Counter(s.prompt for s in sandbox.submissions()) == Counter(prompts)
    assert len(sandbox.ledger()) == 6


def test_failed_lines_are_reported_and_retry_failed_submits_only_them(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = _write(tmp_path / "b.txt", ["good one", "a [fail] one", "a [moderate] one", "good two"])
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out)]
    first = runner.invoke(cli, cmd)
    assert first.exit_code == 7, first.output
    assert (
        "Failed for good: lines 2, 3. To submit them again (and only them), add --retry-failed"
        in (first.stdout)
    )
    assert len(sandbox.submissions()) == 4

    again = runner.invoke(cli, cmd)  # reported again, nothing sent
    assert again.exit_code == 7
    assert "--retry-failed" in again.stdout
    assert len(sandbox.submissions()) == 4

    retry = runner.invoke(cli, [*cmd, "--retry-failed"])
    assert retry.exit_code == 7  # the sandbox fails them again, deterministically
    later = [s.prompt for s in sandbox.submissions()[4:]]
    assert sorted(later) == ["a [fail] one", "a [moderate] one"]


def test_jobs_of_a_vanished_sandbox_are_said_gone_not_404(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = _write(tmp_path / "b.txt", ["first shark", "second shark"])
    out = tmp_path / "out"
    # A --sandbox run killed with its jobs running: the in-process sandbox died with it.
    journal = Journal(out)
    journal.write("run", None, sandbox=True)
    requests = plan_batch(batch, "1k", journal, BatchOptions())
    assert requests[0].todo == 2
    from sharkapi_ext.cli._batch import iter_batch_file

    keys = [r.key for r in iter_batch_file(batch, "1k") if not isinstance(r, tuple)]
    journal.write("intent", keys[0], line=1, price="0.01")
    journal.write("job", keys[0], job_id="job_0123456789abcdef")
    journal.write("intent", keys[1], line=2, price="0.01")
    journal.close()

    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Jobs of an earlier run's --sandbox (gone with it): lines 1, 2" in result.stdout
    assert "NotFound" not in result.output
    assert "Images: 2/2" in result.stdout
    # And the next run has nothing left to do.
    again = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert again.exit_code == 0
    assert len(sandbox.submissions()) == 2


def test_journal_group_commits_off_the_event_loop(
    runner: CliRunner,
    sandbox: Sandbox,
    api_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_fsync = os.fsync
    main = threading.main_thread()

    inodes: list[tuple[int, str]] = []

    def fsync(fd: int) -> None:
        inodes.append(
            (os.fstat(fd).st_ino, (threading.current_thread() is main and "loop") or "thread")
        )
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    batch = _write(tmp_path / "b.txt", [f"fsync shark {i}" for i in range(30)])
    out = tmp_path / "out"
    result = runner.invoke(
        cli, [*api_args, "batch", str(batch), "--out", str(out), "--concurrency", "16"]
    )
    assert result.exit_code == 0, result.output
    records = (out / JOURNAL_NAME).read_text().count("\n")
    journal_inode = (out / JOURNAL_NAME).stat().st_ino
    calls = [where for inode, where in inodes if inode == journal_inode]
    assert records == 90  # intent, job, done per line
    # The journal's fsyncs on the loop's thread are the opening and closing ones only
    # (the old journal: one per record, 90); the others are group commits in a thread.
    assert calls.count("loop") <= 2, calls
    assert len(calls) < records + 30


def test_journal_history_is_compacted_to_one_record_per_request(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    lines = []
    for line in range(1, 1201):
        key = f"L{line}-{line:012x}"
        lines.append(json.dumps({"v": 1, "t": "intent", "key": key, "line": line}))
        lines.append(json.dumps({"v": 1, "t": "job", "key": key, "job_id": f"job_{line:016x}"}))
        if line <= 1000:
            job_id = f"job_{line:016x}"
            done = {"v": 1, "t": "done", "key": key, "job_id": job_id, "cost": "0.01"}
            lines.append(json.dumps(done))
    (out / JOURNAL_NAME).write_text("\n".join(lines) + "\n")
    journal = Journal(out)
    journal.close()
    # One record for the 1,000 finished requests, one per request left: 201 (was 3,400).
    assert (out / JOURNAL_NAME).read_text().count("\n") == 201
    again = Journal(out)
    again.close()
    assert len(again.done) == 1000
    assert again.is_done(f"L7-{7:012x}")
    assert again.done_cost == Decimal("10.00")
    assert again.states[f"L1100-{1100:012x}"].job_id == f"job_{1100:016x}"
    assert again.job_ids_of([f"L7-{7:012x}"]) == {f"L7-{7:012x}": f"job_{7:016x}"}


def test_the_plan_streams_the_file(tmp_path: Path) -> None:
    """Checking 20,000 lines holds none of them: memory does not grow with the file."""
    batch = _write(tmp_path / "b.txt", [f"streaming shark number {i}" for i in range(20_000)])
    journal = Journal(tmp_path / "out", read_only=True)
    tracemalloc.start()
    try:
        plan, _ = plan_batch(batch, "1k", journal, BatchOptions())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.requests == 20_000
    assert plan.list_price == Decimal("200.00")
    # Holding the lines as requests (the old parser) took about 15 MB here.
    assert peak < 1_000_000, peak


def test_a_run_reads_the_file_once_to_check_it_and_once_to_run_it(
    runner: CliRunner,
    sandbox: Sandbox,
    api_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check pass is not repeated once connected: the first submit comes sooner."""
    import sharkapi_ext.cli._batch_file as file_module

    passes: list[str] = []
    real = file_module._line_blocks

    def counted(path: Path) -> object:
        passes.append(str(path))
        return real(path)

    # Every pass over the file reads it through one reader: the plan, then the runner.
    monkeypatch.setattr(file_module, "_line_blocks", counted)
    batch = _write(tmp_path / "b.txt", ["one shark", "two sharks"])
    out = tmp_path / "out"
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(passes) == 2  # the check, then the run
    # A rerun with nothing to do reads it once.
    passes.clear()
    again = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert again.exit_code == 0
    assert len(passes) == 1


def test_a_cancelled_run_journals_every_submit_that_may_have_made_a_job(tmp_path: Path) -> None:
    """Cancelled with submits on the wire: each is journaled as outcome unknown."""
    import asyncio

    from sharkapi_ext import AsyncSharkAPI
    from sharkapi_ext.cli._batch import run_batch
    from sharkapi_ext.sandbox import SandboxConfig

    batch = _write(tmp_path / "b.txt", [f"slow shark {i}" for i in range(3)])
    out = tmp_path / "out"
    config = SandboxConfig(queued_seconds=0.05, processing_seconds=0.1, rate_slow=1.0)
    with Sandbox(config) as slow:

        async def main() -> None:
            async with AsyncSharkAPI(slow.token, base_url=slow.base_url) as client:
                task = asyncio.ensure_future(
                    run_batch(client, batch, out, "1k", BatchOptions(concurrency=3))
                )
                journal = out / JOURNAL_NAME
                while not journal.exists() or journal.read_text().count('"intent"') < 3:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.2)  # the submits reach the (slow) sandbox
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

        asyncio.run(main())
    last = {}
    for text in (out / JOURNAL_NAME).read_text().splitlines():
        record = json.loads(text)
        last[record["key"]] = record
    assert len(last) == 3
    assert all(r["t"] == "unknown" for r in last.values()), last
    assert all("interrupted" in r["message"] for r in last.values())


def test_a_finished_batch_reruns_without_reading_its_file(
    runner: CliRunner,
    sandbox: Sandbox,
    api_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compacted journal names the file it finished: an unchanged file is not read."""
    import sharkapi_ext.cli._batch_file as file_module
    import sharkapi_ext.cli._journal as journal_module

    monkeypatch.setattr(journal_module, "_COMPACT_MIN_RECORDS", 10)
    batch = _write(tmp_path / "b.txt", [f"finished shark {i}" for i in range(12)])
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out), "--concurrency", "6"]
    assert runner.invoke(cli, cmd).exit_code == 0
    assert (out / JOURNAL_NAME).read_text().count("\n") == 1  # one finished record

    passes: list[Path] = []
    real = file_module._line_blocks
    monkeypatch.setattr(file_module, "_line_blocks", lambda p: passes.append(p) or real(p))
    again = runner.invoke(cli, cmd)
    assert again.exit_code == 0, again.output
    assert "Images: 12/12" in again.stdout
    assert "Total cost: $0.12" in again.stdout
    assert passes == []
    dry = runner.invoke(cli, [*cmd, "--dry-run"])
    assert "12 requests, $0.12 at list price" in dry.stdout

    # A deleted image: the full pass runs and downloads it again, paying nothing more.
    next(out.glob("00003-*.png")).unlink()
    fixed = runner.invoke(cli, cmd)
    assert fixed.exit_code == 0, fixed.output
    assert "(1 downloaded by this run)" in fixed.stdout
    assert passes
    assert len(sandbox.submissions()) == 12

    # An edited file: read again, the edited line is a new request.
    passes.clear()
    batch.write_text(batch.read_text().replace("finished shark 5\n", "edited shark 5\n"))
    edited = runner.invoke(cli, cmd)
    assert edited.exit_code == 0, edited.output
    assert passes
    assert len(sandbox.submissions()) == 13


def test_finished_lines_are_held_in_8_bytes_a_line() -> None:
    done = FinishedLines()
    done[3] = 0xABC
    done[3] = 0xABD  # an edited line finished again: counted once
    done[10**12] = 5  # far beyond the file's lines: kept aside, not a huge array
    done[7] = 2**63  # not a hash this journal writes: kept aside too
    assert len(done) == 3
    assert done.get(3) == 0xABD
    assert done.get(4) is None
    assert done.get(10**12) == 5
    assert dict(done.items()) == {3: 0xABD, 7: 2**63, 10**12: 5}
    done[7] = 1  # back into the array
    assert len(done) == 3
    assert done.get(7) == 1
    assert done.span < 100_000


def test_a_long_history_compacts_without_holding_it(tmp_path: Path) -> None:
    """Open, replay and compact 30,000 finished lines in memory that does not hold them."""
    out = tmp_path / "out"
    out.mkdir()
    with open(out / JOURNAL_NAME, "w") as file:
        for line in range(1, 30_001):
            key = f"L{line}-{line:012x}"
            file.write(json.dumps({"v": 1, "t": "intent", "key": key, "line": line}) + "\n")
            job = f"job_{line:016x}"
            file.write(json.dumps({"v": 1, "t": "done", "key": key, "job_id": job}) + "\n")
    tracemalloc.start()
    try:
        Journal(out).close()
        again = Journal(out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(again.done) == 30_000
    assert again.job_ids_of([f"L29999-{29999:012x}"]) == {
        f"L29999-{29999:012x}": f"job_{29999:016x}"
    }
    again.close()
    # Several records of at most 4,096 finished lines each, not one line of all of them.
    assert (out / JOURNAL_NAME).read_text().count("\n") == 8
    # A dict of the finished lines, a dict of their job ids and the whole history as one
    # JSON line took 12.5 MB here (21.6 MB at 60,000 lines; now 2.2 and 2.5 MB).
    assert peak < 3_000_000, peak


@pytest.mark.parametrize("odd_key", [False, True])
def test_the_plan_finds_what_the_journal_holds_without_hashing_other_lines(
    tmp_path: Path, odd_key: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are worked out only for lines the journal names (every line, if a key names none)."""
    from sharkapi_ext.cli import _batch_file

    batch = _write(tmp_path / "b.txt", [f"shark {i}" for i in range(1, 7)])
    by_line = {r.line: r for r in _batch_file.iter_batch_file(batch, "1k")}
    out = tmp_path / "out"
    out.mkdir()
    records = [
        {"v": 1, "t": "intent", "key": by_line[2].key, "line": 2},  # unknown outcome
        {"v": 1, "t": "failed", "key": by_line[4].key, "reason": "JobFailedError", "final": True},
    ]
    if odd_key:
        records.append({"v": 1, "t": "intent", "key": "not-a-line-key", "line": 9})
    (out / JOURNAL_NAME).write_text("".join(json.dumps(r) + "\n" for r in records))
    hashed: list[int] = []
    real = _batch_file.request_key

    def counting(line: int, fields: dict[str, object]) -> str:
        hashed.append(line)
        return real(line, fields)

    monkeypatch.setattr(_batch_file, "request_key", counting)
    plan, result = plan_batch(batch, "1k", Journal(out, read_only=True), BatchOptions())
    assert result.unknown == [2]
    assert result.retryable == [4]
    assert plan.todo == 4
    assert sorted(hashed) == ([1, 2, 3, 4, 5, 6] if odd_key else [2, 4])


def test_a_capped_run_over_an_edited_line_is_not_taken_for_finished(
    runner: CliRunner,
    sandbox: Sandbox,
    api_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The journal names the file it finished only when every line of it has its image.

    An edited line keeps its old image in the journal (its line is finished, as another
    request); a run stopped by the cap before the new request must not leave the
    journal saying the file is finished, or the next run would send nothing.
    """
    from sharkapi_ext.cli import _journal

    monkeypatch.setattr(_journal, "_COMPACT_MIN_RECORDS", 0)  # compact at every close
    monkeypatch.setattr(_journal, "_COMPACT_RATIO", 0)
    batch = _write(tmp_path / "b.txt", [f"edited shark {i}" for i in range(4)])
    out = tmp_path / "out"
    cmd = [*api_args, "batch", str(batch), "--out", str(out), "--concurrency", "1"]
    assert runner.invoke(cli, cmd).exit_code == 0
    _write(batch, [f"edited shark {i}" for i in range(3)] + ["a new last line"])
    capped = runner.invoke(cli, [*cmd, "--max-cost", "0.04"])  # spent by the first run
    assert capped.exit_code == 7, capped.output
    assert "1 not submitted" in capped.stdout
    again = runner.invoke(cli, cmd)
    assert again.exit_code == 0, again.output
    assert [s.prompt for s in sandbox.submissions()][-1] == "a new last line"
    assert "Images: 4/4" in again.stdout


def test_a_rerun_of_a_finished_batch_connects_to_nothing(
    runner: CliRunner,
    api_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finished and unchanged: the summary from the journal alone; no file pass, no API."""
    import sharkapi_ext.cli._batch_file as file_module
    from sharkapi_ext import AsyncSharkAPI
    from sharkapi_ext.cli import _journal

    monkeypatch.setattr(_journal, "_COMPACT_MIN_RECORDS", 0)  # as a big batch's history
    batch = _write(tmp_path / "b.txt", [f"finished shark {i}" for i in range(4)])
    out = tmp_path / "out"
    cmd = ["batch", str(batch), "--out", str(out)]
    assert runner.invoke(cli, [*api_args, *cmd]).exit_code == 0
    passes: list[Path] = []
    real = file_module._line_blocks
    monkeypatch.setattr(file_module, "_line_blocks", lambda p: passes.append(p) or real(p))
    nowhere = ["--base-url", "http://127.0.0.1:9", "--token", "sk_test_nowhere"]
    with monkeypatch.context() as patch:

        def no_client(self: object) -> None:
            raise AssertionError("a finished batch opened a client")

        patch.setattr(AsyncSharkAPI, "__aenter__", no_client)
        again = runner.invoke(cli, [*nowhere, *cmd])
    assert again.exit_code == 0, again.output
    assert "Earlier runs: 4 finished (not redone)" in again.stdout
    assert "Images: 4/4" in again.stdout
    assert passes == []
    # An image gone: the file is read again, and the job's image downloaded again.
    gone = next(out.glob("*.png"))
    gone.unlink()
    missing = runner.invoke(cli, [*api_args, *cmd])
    assert missing.exit_code == 0, missing.output
    assert passes == [batch, batch]  # the check pass, then the run's
    assert gone.exists()


# A batch file's lines: plain prompts (some refused), JSON lines, comments, blanks.
_LINE = st.sampled_from(
    [
        "a shark",
        "another shark",
        "x" * 5000,  # past the prompt's limit
        "\x1c",  # blank to Python, so skipped
        "a \ufeff shark",
        "# a comment",
        "",
        '{"prompt": "json shark", "mode": "2k"}',
        '{"prompt": ""}',
        "{not json",
    ]
)
_RECORD = st.sampled_from(["intent", "job", "failed", "unknown", "done"])


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(_LINE, min_size=1, max_size=30),
    records=st.lists(st.tuples(st.integers(1, 30), _RECORD), max_size=6),
    block=st.integers(1, 80),
    retry_failed=st.booleans(),
)
def test_the_bulk_check_pass_plans_what_a_pass_line_by_line_plans(
    lines: list[str],
    records: list[tuple[int, str]],
    block: int,
    retry_failed: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Plain lines the journal knows nothing of are checked in bulk: the same plan."""
    from sharkapi_ext.cli import _batch_file, _batch_plan

    root = tmp_path_factory.mktemp("plan")
    batch = _write(root / "b.txt", lines)
    by_line = {
        r.line: r
        for r in _batch_file.iter_batch_file(batch, "1k")
        if isinstance(r, _batch_file.BatchRequest)
    }
    out = root / "out"
    out.mkdir()
    journal = [
        {"v": 1, "t": kind, "key": by_line[line].key, "job_id": f"job_{line}", "final": True}
        for line, kind in records
        if line in by_line
    ]
    (out / JOURNAL_NAME).write_text("".join(json.dumps(r) + "\n" for r in journal))
    options = BatchOptions(retry_failed=retry_failed)

    def planned() -> tuple[object, object]:
        try:
            plan, result = plan_batch(batch, "1k", Journal(out, read_only=True), options)
        except BatchError as exc:
            return "no prompts", exc.message
        plan.journal = None
        return plan, result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_batch_file, "_BLOCK_BYTES", block)
        bulk = planned()
        patch.setattr(_batch_plan._Lookup, "knows_any", lambda self, first, last: True)
        assert planned() == bulk
