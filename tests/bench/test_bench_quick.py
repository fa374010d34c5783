"""`scripts/bench --quick` keeps running: every section prints, no timing is asserted."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = [
    "## 1. Per-call overhead",
    "## 2. Polling at scale",
    "## 3. Image-to-image input",
    "## 4. Download",
    "## 5. The sandbox's own throughput",
    "## 6. MCP server over stdio",
    "## 7. Big batches at the API's rate limit",
    "## 8. Big batches against a fast stand-in API",
    "## 9. Journal stores",
]


@pytest.mark.slow
# About 2.5 minutes alone; beside another pytest worker on a 2-core machine, up to twice
# that (its sections measure: they run real servers and batches).
@pytest.mark.timeout(600)
def test_bench_quick_prints_every_section(tmp_path):
    benchmarks = ROOT / "BENCHMARKS.md"
    before = benchmarks.read_bytes() if benchmarks.exists() else None
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench"), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for heading in [*SECTIONS, "Command: `scripts/bench --quick`", "Machine:", "- CPU:"]:
        assert heading in result.stdout, f"missing {heading!r} in:\n{result.stdout[-4000:]}"
    # The quick mode reports to stdout and leaves the committed figures alone.
    after = benchmarks.read_bytes() if benchmarks.exists() else None
    assert after == before
