"""Runs of scripts/spec-evolution: spec changes, each on a copy of this checkout.

A new optional request and response field must need no hand edit on any surface, and a
breaking change without a version bump must fail the release check. Every other kind of
change (issue 25: a new required field, a renamed response field, a price rise, a poll
interval, a new error status, a new header, regenerating without the Node tools) follows
the spec or fails loudly, as promised. (The README's table comes from the full run,
`scripts/spec-evolution`.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

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


def _evolve(changes: str) -> tuple[dict[str, dict[str, Any]], subprocess.CompletedProcess[str]]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "spec-evolution"), "--changes", changes, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    start = done.stdout.index("[")
    end = done.stdout.rindex("]") + 1
    return {r["name"]: r for r in json.loads(done.stdout[start:end])}, done


def test_the_other_kinds_of_change_follow_the_spec_or_fail_loudly() -> None:
    """Issue 25: each kind of non-additive change, on a copy of the spec."""
    reports, done = _evolve("required,rename,price,poll,error,header,no-node")
    for name, report in reports.items():
        failed = {k: v for k, v in report["results"].items() if not v[0]}
        assert not failed, (name, failed)
    # A new required field: construction, reads, waits, downloads keep working; a
    # submit without it is refused by name, before sending, on every surface.
    assert {
        "client construction, reads, waits, downloads",
        "client submit",
        "cli",
        "sandbox",
    } <= set(reports["required"]["results"])
    assert "nothing sent" in reports["required"]["results"]["client submit"][1]
    # A renamed response field: the sandbox follows the schema, the client fails at the
    # first answer, naming the change, and the project's own tests fail by name.
    rename = reports["rename"]["results"]
    assert "no longer declared" in rename["client"][1]
    assert "fails naming image_url" in rename["own tests fail loudly"][1]
    assert reports["rename"]["hand_edits"] == 1  # the SDK reads the old name
    # Facts: a price rise is breaking with old and new values; the poll interval needs
    # its CHANGELOG line; both pass once documented.
    assert "$0.02 -> $0.03 (a price rise)" in reports["price"]["results"]["release check"][1]
    assert "POLL_INTERVAL_SECONDS: 2.0 -> 5.0" in reports["poll"]["results"]["release check"][1]
    # A new error status and a new header need no hand edit.
    for name in ("error", "header"):
        assert reports[name]["hand_edits"] == 0, reports[name]
    assert "exit 3" in reports["no-node"]["results"]["regenerate"][1]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
