"""openapi.yaml is valid OpenAPI 3.1 and Spectral's `spectral:oas` rules find nothing in it."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from spec_helpers import ROOT, SPEC_PATH, load_spec

NODE_DIR = ROOT / "scripts" / "node"
SPECTRAL = NODE_DIR / "node_modules" / ".bin" / "spectral"
RULESET = NODE_DIR / ".spectral.yaml"
SEVERITIES = {0: "error", 1: "warn", 2: "info", 3: "hint"}


def test_openapi_spec_validator_accepts_spec_as_3_1() -> None:
    spec = load_spec()
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)  # raises with the first problem found
    assert list(OpenAPIV31SpecValidator(spec).iter_errors()) == []


def ensure_node_tools() -> None:
    """Install the pinned Node tools if this clone has none yet; fail (never skip) without npm."""
    if SPECTRAL.exists():
        return
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found on PATH: the spec lint needs Node.js 18+ with npm "
            "(scripts/setup-node installs Spectral and Prism from scripts/node/package-lock.json)"
        )
    done = subprocess.run(
        [str(ROOT / "scripts" / "setup-node")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"scripts/setup-node failed:\n{done.stdout}{done.stderr}"
    assert SPECTRAL.exists(), f"scripts/setup-node ran but {SPECTRAL} is missing"


@pytest.mark.node
def test_spectral_oas_ruleset_reports_no_errors_or_warnings() -> None:
    ensure_node_tools()
    cmd = [str(SPECTRAL), "lint", str(SPEC_PATH), "--ruleset", str(RULESET)]
    done = subprocess.run(
        [*cmd, "--format", "json", "--fail-severity", "warn", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    try:
        results = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        output = done.stdout + done.stderr
        pytest.fail(f"spectral did not print JSON (exit {done.returncode}):\n{output}")
    serious = [
        f"{SEVERITIES[r['severity']]} {r['code']} at line {r['range']['start']['line'] + 1} "
        f"({'.'.join(map(str, r['path']))}): {r['message']}"
        for r in results
        if r["severity"] <= 1
    ]
    assert serious == [], "Spectral (spectral:oas) found:\n" + "\n".join(serious)
    assert done.returncode == 0, f"spectral exited {done.returncode}:\n{done.stderr}"
