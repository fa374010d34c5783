"""A quick run of scripts/spec-evolution: two spec changes on a copy of this checkout.

A new optional request and response field must need no hand edit on any surface, and a
breaking change without a version bump must fail the release check. (The README's table
comes from the full run, `scripts/spec-evolution`.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from spec_helpers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.node]


def test_additive_change_needs_no_hand_edit_and_a_break_needs_a_version() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "spec-evolution"),
            "--changes",
            "field,breaking",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    start = done.stdout.index("[")
    end = done.stdout.rindex("]") + 1
    reports = {r["name"]: r for r in json.loads(done.stdout[start:end])}
    field, breaking = reports["field"], reports["breaking"]
    assert field["hand_edits"] == 0, field
    assert all(ok for ok, _ in field["results"].values()), field
    assert {"client request", "client response", "cli", "sandbox"} <= set(field["results"])
    ok, detail = breaking["results"]["release check"]
    assert ok, detail
    assert "fails until the version is bumped" in detail
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
