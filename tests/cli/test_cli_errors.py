"""Each class of failure prints `ErrorName: message` on one line and exits with its code."""

from __future__ import annotations

import json
import re
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from sharkapi_ext import SharkAPIError
from sharkapi_ext.cli import cli
from sharkapi_ext.cli._errors import exit_code_for
from sharkapi_ext.sandbox import Sandbox


def _generate(runner: CliRunner, args: list[str], tmp_path: Path, *extra: str):
    return runner.invoke(cli, [*args, "generate", *extra, "-o", str(tmp_path / "x.png")])


def _one_error_line(result, name: str) -> None:
    # Status lines ("job ...: processing") and the way back to a known job are extra.
    lines = [
        line
        for line in result.stderr.splitlines()
        if not line.startswith(("job ", "Resume with: sharkapi wait job_"))
    ]
    assert lines == [lines[0]]
    assert lines[0].startswith(f"{name}: ")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("prompt", "code", "name"),
    [
        ("a [blocked] shark", 5, "ModerationError"),
        ("a [moderate] shark", 5, "JobModeratedError"),
        ("a [fail] shark", 7, "JobFailedError"),
        ("", 2, "InvalidRequestError"),
        ("x" * 2001, 2, "InvalidRequestError"),
    ],
)
def test_prompt_outcomes(
    runner: CliRunner, api_args: list[str], tmp_path: Path, prompt: str, code: int, name: str
) -> None:
    result = _generate(runner, api_args, tmp_path, prompt)
    assert result.exit_code == code, result.output
    _one_error_line(result, name)
    assert not (tmp_path / "x.png").exists()


def test_usage_error_is_2(runner: CliRunner, api_args: list[str], tmp_path: Path) -> None:
    result = _generate(runner, api_args, tmp_path, "a shark", "--mode", "3k")
    assert result.exit_code == 2


def test_no_token_is_2(runner: CliRunner, sandbox: Sandbox, tmp_path: Path) -> None:
    result = _generate(runner, ["--base-url", sandbox.base_url], tmp_path, "a shark")
    assert result.exit_code == 2
    _one_error_line(result, "InvalidRequestError")


def test_unknown_token_is_3(runner: CliRunner, sandbox: Sandbox, tmp_path: Path) -> None:
    secret = "not_a_sandbox_token_123"
    args = ["--base-url", sandbox.base_url, "--token", secret]
    result = _generate(runner, args, tmp_path, "a shark")
    assert result.exit_code == 3
    _one_error_line(result, "AuthenticationError")
    assert secret not in result.output


def test_revoked_token_is_3(runner: CliRunner, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_token("sk_test_revoked", revoked=True)
    args = ["--base-url", sandbox.base_url, "--token", "sk_test_revoked"]
    result = _generate(runner, args, tmp_path, "a shark")
    assert result.exit_code == 3
    _one_error_line(result, "PermissionDeniedError")
    assert "sk_test_revoked" not in result.output


def test_empty_wallet_is_4(runner: CliRunner, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_token("sk_test_poor", balance=Decimal("0.01"))
    args = ["--base-url", sandbox.base_url, "--token", "sk_test_poor"]
    result = _generate(runner, args, tmp_path, "a shark", "--mode", "2k")
    assert result.exit_code == 4
    _one_error_line(result, "InsufficientBalanceError")


def test_service_unavailable_is_6(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    sandbox.set_faults(rate_503=1.0, retry_after_seconds=0)
    result = _generate(runner, api_args, tmp_path, "a shark")
    assert result.exit_code == 6
    _one_error_line(result, "ServiceUnavailableError")


def test_connection_refused_is_6(runner: CliRunner, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed.
    args = ["--base-url", f"http://127.0.0.1:{port}", "--token", "sk_test_x"]
    result = _generate(runner, args, tmp_path, "a shark")
    assert result.exit_code == 6
    _one_error_line(result, "APIConnectionError")


def test_wait_timeout_is_8(runner: CliRunner, api_args: list[str], tmp_path: Path) -> None:
    result = _generate(runner, api_args, tmp_path, "a shark", "--timeout", "0.01")
    assert result.exit_code == 8
    error, resume = result.stderr.splitlines()[-2:]
    assert error.startswith("WaitTimeoutError: job job_")
    assert "within 0.01 s" in error
    assert "wait(" not in result.stderr  # the Python method is not the CLI's word
    job_id = error.split()[2]
    base_url = api_args[1]
    target = str(tmp_path / "x.png")
    assert resume == f"Resume with: sharkapi wait {job_id} --base-url {base_url} -o {target}"


def test_dropped_submit_is_9(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    sandbox.set_faults(rate_drop_after_create=1.0)
    result = _generate(runner, api_args, tmp_path, "a shark")
    assert result.exit_code == 9
    _one_error_line(result, "SubmissionOutcomeUnknownError")
    assert len(sandbox.submissions()) == 1  # created once, never resubmitted


def test_unparsable_answer_is_1(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    sandbox.set_faults(bad_schema=True)
    result = _generate(runner, api_args, tmp_path, "a shark")
    assert result.exit_code == 1
    _one_error_line(result, "UnexpectedResponseError")


def test_unknown_job_is_2(runner: CliRunner, api_args: list[str]) -> None:
    result = runner.invoke(cli, [*api_args, "status", "job_doesnotexist"])
    assert result.exit_code == 2
    _one_error_line(result, "NotFoundError")


def test_a_bug_still_shows_its_traceback(
    runner: CliRunner, api_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("sharkapi_ext._client.SharkAPI.get_job", broken)
    result = runner.invoke(cli, [*api_args, "status", "job_x"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_exit_codes_are_documented(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    documented = re.findall(r"^\s+(\d+)\s{2,}\S", result.output, flags=re.MULTILINE)
    assert documented == [str(code) for code in range(10)] + ["130"]


def test_every_error_class_has_a_code() -> None:
    import sharkapi_ext

    classes = [
        obj
        for obj in vars(sharkapi_ext).values()
        if isinstance(obj, type) and issubclass(obj, SharkAPIError)
    ]
    assert len(classes) > 15
    for cls in classes:
        assert isinstance(exit_code_for(cls.__new__(cls)), int)


def test_json_error_still_goes_to_stderr(runner: CliRunner, api_args: list[str], tmp_path: Path):
    result = _generate(runner, api_args, tmp_path, "a [fail] shark", "--json")
    assert result.exit_code == 7
    assert result.stdout == ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stderr)


def test_a_5xx_answering_a_submit_is_9_because_a_job_may_exist(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    # The 500 came after the request reached the API: exiting 6 ("service trouble")
    # would invite a script to submit again and pay twice.
    sandbox.set_faults(rate_500=1.0)
    result = _generate(runner, api_args, tmp_path, "a shark")
    assert result.exit_code == 9, result.stderr
    _one_error_line(result, "InternalServerError")
    assert "may have been created" in result.stderr


def test_a_5xx_answering_a_read_stays_6() -> None:
    import httpx

    from sharkapi_ext._exceptions import make_status_error

    read = make_status_error(500, httpx.Headers(), b"", retry_after=None, job_id="job_x")
    assert exit_code_for(read) == 6  # the job is named: resume it, nothing is unknown
    submit = make_status_error(500, httpx.Headers(), b"", retry_after=None, after_submit=True)
    assert exit_code_for(submit) == 9
