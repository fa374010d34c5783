"""scripts/bench-cli-startup keeps running and compares two checkouts (no timing asserted)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench-cli-startup"


def test_bench_cli_startup_quick() -> None:
    # The checkout against itself: both rows print and the help texts compare equal.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1", "--quick", "--against", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = re.findall(
        r"^\| `sharkapi (.+?)` \| (against|this checkout) \| \d+ \|", result.stdout, re.M
    )
    assert sorted(rows) == sorted(
        [(c, n) for c in ("batch --help", "--help") for n in ("against", "this checkout")]
    ), result.stdout
    assert "Help texts identical in both checkouts: yes." in result.stdout
