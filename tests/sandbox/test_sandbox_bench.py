"""scripts/bench-sandbox --quick runs, loads the sandbox without errors, and reports."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "bench-sandbox"


def test_bench_quick() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "submitted:" in result.stdout
    assert "jobs/s" in result.stdout
    assert "errors:     0" in result.stdout
    assert re.search(r"render: +1k median [\d.]+ ms .*, 2k median [\d.]+ ms", result.stdout)
