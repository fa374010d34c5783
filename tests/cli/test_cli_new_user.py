"""What a new user meets: nothing paid before local checks, messages in the CLI's words."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import cli_env
from click.testing import CliRunner
from PIL import Image

from sharkapi_ext.cli import cli
from sharkapi_ext.sandbox import Sandbox


def _generate(runner: CliRunner, args: list[str], *extra: str):
    return runner.invoke(cli, [*args, "generate", "a shark", *extra])


# -- the destination is checked before anything is paid ---------------------------------


@pytest.mark.parametrize(
    ("make", "output", "says"),
    [
        (lambda d: (d / "existing.png").write_bytes(b"x"), "existing.png/sub.png", "is a file"),
        (lambda d: (d / "existing.png").write_bytes(b"x"), "existing.png", "already exists"),
        (lambda d: (d / "notes.txt").write_text("mine"), "notes.txt", "--overwrite"),
        # A JPEG answer to "-o shark.png" would be saved as shark.jpg: that name is checked too.
        (lambda d: (d / "shark.jpg").write_bytes(b"mine"), "shark.png", "shark.jpg' already"),
        (lambda d: None, "x" * 300 + ".png", "too long"),
        (lambda d: None, "", "not a usable path"),
    ],
)
def test_bad_destination_is_refused_before_submitting(
    runner: CliRunner,
    sandbox: Sandbox,
    api_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make,
    output: str,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    result = _generate(runner, api_args, "-o", output)
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert "-o/--output" in result.stderr
    assert sandbox.submissions() == []  # nothing submitted, nothing paid
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_unwritable_directory_is_refused_before_submitting(
    runner: CliRunner,
    sandbox: Sandbox,
    api_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tests may run as root, who can write anywhere: the permission answer is simulated.
    real_access = os.access
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(
        "os.access", lambda path, mode: Path(path) != locked and real_access(path, mode)
    )
    result = _generate(runner, api_args, "-o", str(locked / "new" / "x.png"))
    assert result.exit_code == 2
    assert f"cannot create {str(locked / 'new')!r} in" in result.stderr
    assert "permission denied" in result.stderr
    assert sandbox.submissions() == []


def test_overwrite_replaces_and_directories_take_the_job_name(
    runner: CliRunner, api_args: list[str], tmp_path: Path
) -> None:
    target = tmp_path / "shark.png"
    target.write_text("not an image")
    result = _generate(runner, api_args, "-o", str(target), "--overwrite")
    assert result.exit_code == 0, result.output
    with Image.open(target) as image:
        assert image.format == "PNG"
    # A directory destination receives <job_id>.png, created if missing.
    result = _generate(runner, api_args, "-o", f"{tmp_path}/new/dir/")
    assert result.exit_code == 0, result.output
    assert [p.name[:4] for p in (tmp_path / "new" / "dir").iterdir()] == ["job_"]


def test_failed_download_prints_the_recovery_command(
    runner: CliRunner,
    sandbox: Sandbox,
    api_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sharkapi_ext import DownloadError

    def broken(self: object, status: object, dest: object, **kwargs: object) -> None:
        raise DownloadError("download of http://img/x.png: HTTP 502")

    monkeypatch.setattr("sharkapi_ext.SharkAPI.download", broken)
    target = tmp_path / "x.png"
    result = _generate(runner, api_args, "-o", str(target))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[-3].startswith("DownloadError: ")
    job_id = re.search(r"Job (job_\w+) is complete and paid for", lines[-2])
    assert job_id
    assert lines[-1] == (
        f"Resume with: sharkapi wait {job_id[1]} --base-url {api_args[1]} -o {target}"
    )
    # ... and that command does recover the image, without a new submission.
    again = runner.invoke(
        cli,
        ["wait", job_id[1], "--base-url", api_args[1], "--token", api_args[3], "-o", str(target)],
    )
    assert again.exit_code == 1  # still broken in this process


# -- messages that speak the command line ---------------------------------------------------


def test_no_token_points_to_the_cli_options(runner: CliRunner, sandbox: Sandbox) -> None:
    result = runner.invoke(cli, ["--base-url", sandbox.base_url, "status", "job_x"])
    assert result.exit_code == 2
    assert "--token" in result.stderr
    assert "SHARKAPI_TOKEN" in result.stderr
    assert "--sandbox" in result.stderr
    assert "token=" not in result.stderr


@pytest.mark.parametrize("command", [["status", "job_x"], ["batch", "PROMPTS", "--out", "OUT"]])
def test_plain_http_names_no_python_only_option(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a shark\n")
    words = [
        str(prompts) if w == "PROMPTS" else str(tmp_path / "o") if w == "OUT" else w
        for w in command
    ]
    result = runner.invoke(cli, ["--base-url", "http://api.example.com", "--token", "sk_x", *words])
    assert result.exit_code == 2
    assert "allow_insecure_http" not in result.stderr
    assert "https://" in result.stderr
    assert result.stderr.count("\n") == 1


def test_connection_error_names_the_host(runner: CliRunner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(
        cli, ["--base-url", f"http://127.0.0.1:{port}", "--token", "sk_x", "status", "job_x"]
    )
    assert result.exit_code == 6
    assert f"http://127.0.0.1:{port}" in result.stderr
    assert "sk_x" not in result.stderr


def test_base_url_ending_in_v1_gets_a_hint(runner: CliRunner, sandbox: Sandbox) -> None:
    base = f"{sandbox.base_url}/v1"
    result = runner.invoke(cli, ["--base-url", base, "--token", sandbox.token, "status", "job_x"])
    assert result.exit_code == 2
    first, hint = result.stderr.splitlines()
    assert first.startswith("NotFoundError: ")
    assert base in first
    assert hint.endswith(f"try --base-url {sandbox.base_url}")


def test_sandbox_overriding_base_url_is_said(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli,
        [
            *("--base-url", "https://api.example.com", "generate", "--sandbox", "a shark"),
            *("-o", str(tmp_path / "x.png"), "--timeout", "0.01"),
        ],
    )
    assert "--sandbox overrides --base-url (https://api.example.com)" in result.stderr
    # A timeout under --sandbox cannot be resumed: the job went with the process.
    assert result.exit_code == 8
    assert "sandbox, which has stopped: the job is gone" in result.stderr
    assert "Resume with" not in result.stderr


def test_exit_codes_only_in_the_top_level_help(runner: CliRunner) -> None:
    assert "130" in runner.invoke(cli, ["--help"]).output
    for command in ("generate", "status", "wait", "batch", "sandbox"):
        text = runner.invoke(cli, [command, "--help"]).output
        assert "130" not in text
        assert "sharkapi --help" in text
    sandbox_help = runner.invoke(cli, ["sandbox", "--help"]).output
    assert "--rate-limit-per-second RATE" in sandbox_help


# -- batch: every line checked first ---------------------------------------------------------


def test_batch_checks_every_line_before_submitting(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    batch = tmp_path / "b.jsonl"
    lines = [
        "a good prompt",
        json.dumps({"prompt": "x" * 2500}),
        json.dumps({"prompt": "x", "image": str(tmp_path / "missing.png")}),
        json.dumps({"prompt": "x", "image": str(text_file)}),
        json.dumps({"prompt": "x", "mode": "4k"}),
        json.dumps({"prompt": "x", "image": 123}),
        "another good prompt",
    ]
    batch.write_text("\n".join(lines))
    out = tmp_path / "out"
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert result.exit_code == 2, result.output
    reasons = [line for line in result.stderr.splitlines() if line.startswith(str(batch))]
    assert [line.split(":")[1] for line in reasons] == ["2", "3", "4", "5", "6"]
    assert all("InvalidRequestError" in line for line in reasons)
    assert "prompt" in reasons[0]
    assert "mode" in reasons[3]
    assert "5 of 7 lines are invalid" in result.stderr
    assert sandbox.submissions() == []
    assert not out.exists()  # nothing journaled either


def test_empty_prompts_file_says_so(runner: CliRunner, api_args: list[str], tmp_path: Path) -> None:
    batch = tmp_path / "empty.txt"
    batch.write_text("# only a comment\n\n")
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "holds no prompts" in result.stderr


def test_batch_reports_this_run_apart_from_earlier_runs(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = tmp_path / "b.txt"
    batch.write_text("one\na [fail] two\nthree\n")
    out = tmp_path / "out"
    first = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert first.exit_code == 7
    assert "This run: submitted 3, finished 2, failed 1, cost $0.02" in first.stdout
    assert re.search(r"line 2: JobFailedError: job job_\w+ failed", first.stdout)
    # Each line printed during the run has consistent counters: nothing is left in flight.
    progress = [line for line in first.stderr.splitlines() if line.startswith("line ")]
    assert "in flight 0" in progress[-1]
    assert "line 2: failed - JobFailedError" in first.stderr

    batch.write_text("one\na [fail] two\nthree, edited\n")
    again = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(out)])
    assert again.exit_code == 7
    assert "This run: submitted 1, finished 1, cost $0.01" in again.stdout
    assert "Earlier runs: 1 finished (not redone)" in again.stdout
    assert "Changed since the last run: lines 3" in again.stdout
    assert "line 2: JobFailedError" in again.stdout  # the earlier failure is still listed
    assert "Total cost: $0.03 (all runs)" in again.stdout
    assert len(sandbox.submissions()) == 4


# -- the sandbox command -------------------------------------------------------------------


def test_sandbox_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sharkapi_ext.cli", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stdout == ""  # no banner
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(choose another --port, or --port 0 for a free one)"
    ]


def test_sandbox_port_0_prints_the_real_port() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sharkapi_ext.cli", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.fullmatch(r"SharkAPI sandbox on http://127\.0\.0\.1:(\d+)\n", first)
        assert match, first
        port = int(match[1])
        assert port != 0
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_batch_progress_bar_shows_an_eta() -> None:
    from rich.progress import TimeRemainingColumn

    from sharkapi_ext.cli._batch_progress import _Display

    display = _Display(3, interactive=True)
    try:
        assert display._progress is not None
        assert any(isinstance(c, TimeRemainingColumn) for c in display._progress.columns)
    finally:
        display.close()
