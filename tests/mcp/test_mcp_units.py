"""The MCP server's parts on their own: description cleaning, the cap, the guard, errors."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sharkapi_spec import GENERATE_REQUEST_SCHEMA, MODE_PRICES

from sharkapi_ext import (
    APIConnectionError,
    DownloadError,
    InvalidRequestError,
    SubmissionOutcomeUnknownError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from sharkapi_ext._exceptions import make_status_error, record_interrupted_job
from sharkapi_ext.mcp import (
    PathGuard,
    PathNotAllowedError,
    ServerConfig,
    SpendCap,
    SpendCapExceededError,
)
from sharkapi_ext.mcp._errors import describe
from sharkapi_ext.mcp._schemas import for_model


def test_for_model_strips_the_specs_notes_to_maintainers() -> None:
    described = for_model(GENERATE_REQUEST_SCHEMA["properties"]["prompt"]["description"])
    assert described == "Text description of the image to generate, at most 2000 characters."
    assert for_model("Keep this.\n\n**ASSUMED** in full: drop this.\n\nAnd this stays.") == (
        "Keep this. And this stays."
    )


def test_the_cap_counts_list_prices_raises_to_estimates_and_forgets_only_refusals() -> None:
    cap = SpendCap(Decimal("0.05"))
    first = cap.reserve("2k")
    assert cap.counted == MODE_PRICES["2k"]
    cap.raise_to(first, Decimal("0.03"))  # the API estimated more than the list price
    assert cap.counted == Decimal("0.03")
    cap.raise_to(first, Decimal("0.01"))  # never lowered once a job may exist
    assert cap.counted == Decimal("0.03")
    second = cap.reserve("2k")
    assert cap.counted == Decimal("0.05")
    with pytest.raises(SpendCapExceededError) as refused:
        cap.reserve("1k")
    assert refused.value.cap == Decimal("0.05")
    assert refused.value.price == MODE_PRICES["1k"]
    cap.release(second)
    assert cap.remaining == Decimal("0.02")
    for bad in (Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), 1.0):
        with pytest.raises(ValueError, match="max_cost"):
            SpendCap(bad)  # type: ignore[arg-type]


def test_a_zero_cap_refuses_everything() -> None:
    with pytest.raises(SpendCapExceededError):
        SpendCap(Decimal(0)).reserve("1k")


def test_the_guard_resolves_before_checking(tmp_path: Path) -> None:
    allowed = tmp_path / "a"
    (allowed / "sub").mkdir(parents=True)
    (allowed / "sub" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\nrest")
    (tmp_path / "secret").write_text("s")
    (allowed / "loop").symlink_to(allowed / "loop")
    guard = PathGuard([allowed])
    assert guard.read("sub/x.png").startswith(b"\x89PNG")
    assert guard.read(str(allowed / "sub" / ".." / "sub" / "x.png")).startswith(b"\x89PNG")
    for outside in ("../secret", str(tmp_path / "secret"), "sub/../../secret"):
        with pytest.raises(PathNotAllowedError, match="outside the allowed directories"):
            guard.read(outside)
    with pytest.raises(InvalidRequestError, match="no such file"):
        guard.read("missing.png")
    with pytest.raises(InvalidRequestError, match="not a regular file"):
        guard.read("sub")
    with pytest.raises(InvalidRequestError):
        guard.read("loop")
    with pytest.raises(FileNotFoundError):
        PathGuard([tmp_path / "nope"])


@pytest.mark.parametrize(
    "changes",
    [
        {"max_wait_seconds": 0},
        {"max_wait_seconds": float("inf")},
        {"heartbeat_seconds": float("nan")},
        {"heartbeat_seconds": True},
        {"thumbnail_pixels": 4},
    ],
)
def test_server_config_refuses_bad_values(changes: dict) -> None:
    with pytest.raises((TypeError, ValueError)):
        ServerConfig(**changes)


def test_describe_names_the_job_and_what_to_do_for_every_kind() -> None:
    unknown = describe(SubmissionOutcomeUnknownError("broke"))
    assert unknown.kind == "outcome_unknown"
    assert unknown.job_may_exist
    assert not unknown.retry_safe
    # A 5xx answering a submit, as the core makes it: the request arrived, a job may exist.
    server = describe(
        make_status_error(500, httpx.Headers(), b"", retry_after=None, after_submit=True)
    )
    assert server.kind == "outcome_unknown"
    assert server.job_may_exist
    assert "Do NOT call generate_image again" in server.what_to_do
    read = describe(make_status_error(500, httpx.Headers(), b"", retry_after=None))
    assert read.kind == "service_error"
    assert not read.job_may_exist
    assert "no job was created" in read.what_to_do
    unreadable = UnexpectedResponseError("bad", status_code=202, job_id="job_1")
    unreadable.job_may_exist = True  # as the submit flow marks an unreadable 2xx
    described = describe(unreadable)
    assert described.job_id == "job_1"
    assert not described.retry_safe
    assert 'wait_for_job with job_id="job_1"' in described.what_to_do
    refused = describe(APIConnectionError("refused"))
    assert not refused.job_may_exist
    assert "no job was created" in refused.what_to_do
    timeout = describe(WaitTimeoutError("late", job_id="job_2", last_status=None))
    assert timeout.job_id == "job_2"
    download = describe(DownloadError("gone", job_id="job_3"))
    assert download.kind == "download_failed"
    assert "job_3" in download.text()
    auth = describe(make_status_error(401, httpx.Headers(), b"", retry_after=None))
    assert (auth.kind, auth.account_problem, auth.retry_safe) == ("auth", True, True)


def test_describe_reads_an_interruptions_record_not_its_type() -> None:
    bug = RuntimeError("bug")
    plain = describe(bug)
    assert plain.kind == "internal"
    assert not plain.job_may_exist
    assert "retrying this tool is safe" in plain.what_to_do
    # The core marks an exception that ended a submit after it may have reached the API.
    record_interrupted_job(bug, None)
    marked = describe(bug)
    assert marked.kind == "internal"
    assert marked.job_may_exist
    assert not marked.retry_safe
    assert "Do NOT call generate_image again" in marked.what_to_do
    named = asyncio.CancelledError()
    record_interrupted_job(named, "job_9")
    failure = describe(named)
    assert failure.job_id == "job_9"
    assert 'wait_for_job with job_id="job_9"' in failure.what_to_do


def test_a_guard_with_no_directory_refuses_everything(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(PathNotAllowedError, match="--allow-dir"):
        PathGuard([]).read(str(tmp_path / "x.png"))


def test_the_filesystem_root_is_never_allowed_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharkapi_ext.mcp._server import _default_allowed

    monkeypatch.chdir(tmp_path)
    assert _default_allowed() == [tmp_path.resolve()]
    monkeypatch.chdir("/")
    assert _default_allowed() == []


@pytest.mark.parametrize(
    ("token", "base_url", "words"),
    [
        (None, None, "SHARKAPI_TOKEN is not set in this MCP server's environment"),
        ("", None, "SHARKAPI_TOKEN is not set in this MCP server's environment"),
        ("sk_live_with a space", None, "SHARKAPI_TOKEN in this MCP server's environment"),
        ("sk_test_x", "ftp://example.com", "SHARKAPI_BASE_URL or --base-url"),
    ],
)
def test_why_the_server_has_no_client_names_its_settings_not_python_arguments(
    token: str | None, base_url: str | None, words: str
) -> None:
    from sharkapi_ext.mcp._stdio import client_from_settings

    client, problem = client_from_settings(token, base_url=base_url, poll_interval=2.0)
    assert client is None
    assert problem is not None
    assert words in problem
    assert "token=" not in problem
    assert not token or token not in problem
