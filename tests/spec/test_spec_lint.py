"""openapi.yaml is valid OpenAPI 3.1 and Spectral's `spectral:oas` rules find nothing in it."""

from __future__ import annotations

import json
import subprocess

import pytest
from node_tools import node_tool
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from spec_helpers import ROOT, SPEC_PATH, load_spec

RULESET = ROOT / "scripts" / "node" / ".spectral.yaml"
SEVERITIES = {0: "error", 1: "warn", 2: "info", 3: "hint"}


def test_openapi_spec_validator_accepts_spec_as_3_1() -> None:
    spec = load_spec()
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)  # raises with the first problem found
    assert list(OpenAPIV31SpecValidator(spec).iter_errors()) == []


@pytest.mark.node
def test_spectral_oas_ruleset_reports_no_errors_or_warnings() -> None:
    cmd = [str(node_tool("spectral")), "lint", str(SPEC_PATH), "--ruleset", str(RULESET)]
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
