"""The pinned Node tools (scripts/node/package.json): Spectral and Prism.

A fresh clone has none installed; the first test that needs one installs them all
with scripts/setup-node. Without node or npm such a test fails, never skips.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_BIN = ROOT / "scripts" / "node" / "node_modules" / ".bin"


def node_tool(name: str) -> Path:
    """The path of `name` in node_modules/.bin, installing the tools first if needed."""
    tool = NODE_BIN / name
    if tool.exists():
        return tool
    missing = [cmd for cmd in ("node", "npm") if shutil.which(cmd) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found on PATH: {name} needs Node.js 18+ with npm "
            "(scripts/setup-node installs it from scripts/node/package-lock.json)"
        )
    done = subprocess.run(
        [str(ROOT / "scripts" / "setup-node")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"scripts/setup-node failed:\n{done.stdout}{done.stderr}"
    assert tool.exists(), f"scripts/setup-node ran but {tool} is missing"
    return tool
