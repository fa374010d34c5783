"""Helpers shared by the CLI tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SECRET = "sk_test_cli_secret_do_not_print"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a `sharkapi` subprocess: no inherited SHARKAPI_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARKAPI_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def sharkapi(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start `python -m sharkapi_ext.cli ARGS` with pipes for its output."""
    return subprocess.Popen(
        [sys.executable, "-m", "sharkapi_ext.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def journal_lines(out: Path) -> int:
    """Complete lines in a batch journal so far (0 if it does not exist yet)."""
    try:
        return (out / ".sharkapi-journal.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
