"""Hostile arguments to the `sharkapi` commands: exit code 2, one error line, no traceback,
and nothing sent (the API URL points at a raw server that counts connections)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from reliability_helpers import RawServer

from sharkapi_ext.cli import cli

CASES: list[list[str]] = [
    ["generate", "--mode", "3k", "a shark"],
    ["generate", "--mode", "", "a shark"],
    ["generate", "--timeout", "-1", "a shark"],
    ["generate", ""],
    ["generate", "x" * 2001],
    ["generate", "\ud800"],
    ["generate", "--image", "/nonexistent.png", "a shark"],
    ["generate", "--image", "{tmp}", "a shark"],
    ["generate", "--image", "{notimage}", "a shark"],
    ["generate", "--image", "{truncated}", "a shark"],
    ["generate", "--strength", "nan", "--image", "{png}", "a shark"],
    ["generate", "--strength", "1.5", "--image", "{png}", "a shark"],
    ["generate", "--strength", "0.5", "a shark"],
    ["status", "../etc/passwd"],
    ["status", ""],
    ["status", "x" * 500],
    ["wait", "a b"],
    ["batch", "/nonexistent.txt"],
    ["batch", "{tmp}"],
    ["batch", "{empty}", "--concurrency", "0"],
    ["batch", "{empty}", "--concurrency", "-3"],
    ["batch", "{empty}", "--concurrency", "many"],
    # Found by this suite (click's FloatRange accepts them; a paid job went out), fixed:
    ["generate", "--timeout", "nan", "a shark"],
    ["generate", "--timeout", "inf", "a shark"],
    ["wait", "job_1", "--timeout", "nan"],
    ["generate", "--poll-interval", "inf", "a shark"],
]
TRIED: list[str] = []


def _args(case: list[str], tmp: Path) -> list[str]:
    png = tmp / "ok.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (tmp / "not.png").write_bytes(b"GIF89a" + b"\x00" * 64)
    (tmp / "cut.png").write_bytes(b"\x89PN")
    (tmp / "empty.txt").write_text("")
    names = {
        "{tmp}": str(tmp),
        "{png}": str(png),
        "{notimage}": str(tmp / "not.png"),
        "{truncated}": str(tmp / "cut.png"),
        "{empty}": str(tmp / "empty.txt"),
    }
    return [names.get(arg, arg) for arg in case]


def _check(case: list[str], tmp_path: Path) -> None:
    TRIED.append(" ".join(a[:20] for a in case))
    with RawServer(lambda conn: None) as server:
        env = {"SHARKAPI_TOKEN": "sk_test_cli_bad_input", "SHARKAPI_BASE_URL": server.base_url}
        result = CliRunner().invoke(cli, _args(case, tmp_path), env=env)
        connections = server.accepted
    output = result.output
    errors = [line for line in output.splitlines() if "Error" in line or "error" in line]
    assert connections == 0, f"{case}: sent a request (exit {result.exit_code}: {output!r})"
    assert result.exit_code == 2, f"{case}: exit {result.exit_code}: {output!r}"
    assert "Traceback" not in output
    assert len(errors) == 1, output


@pytest.mark.parametrize("case", CASES, ids=lambda c: " ".join(a[:12] for a in c))
def test_cli_hostile_arguments(case: list[str], tmp_path: Path) -> None:
    _check(case, tmp_path)
