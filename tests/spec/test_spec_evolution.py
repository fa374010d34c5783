"""Runs of scripts/spec-evolution: spec changes, each on a copy of this checkout.

A new optional request and response field must need no hand edit on any surface, and a
breaking change without a version bump must fail the release check. Every other kind of
change (issue 25: a new required field, a renamed response field, a price rise, a poll
interval, a new error status, a new header, regenerating without the Node tools) follows
the spec or fails loudly, as promised. (The README's table comes from the full run,
`scripts/spec-evolution`.)

One run of the script per kind of change, each its own test: a kind costs its copy,
its regeneration and its test runs whichever test asks for it, and separate tests let
`pytest -n` spread the kinds over the cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from spec_helpers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.node]


def evolve(change: str) -> dict[str, Any]:
    """The script's report of one kind of change; every result must be as promised."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "spec-evolution"), "--changes", change, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert "[" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    start = done.stdout.index("[")
    end = done.stdout.rindex("]") + 1
    [report] = json.loads(done.stdout[start:end])
    assert report["name"] == change, report
    failed = {k: v for k, v in report["results"].items() if not v[0]}
    assert not failed, (change, failed)
    # The exit status says the same: 0 only when every result is as promised.
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return report


def test_a_new_optional_field_needs_no_hand_edit() -> None:
    field = evolve("field")
    assert field["hand_edits"] == 0, field
    assert {"client request", "client response", "cli", "sandbox"} <= set(field["results"])


def test_a_breaking_change_fails_the_release_check_until_the_version_is_bumped() -> None:
    ok, detail = evolve("breaking")["results"]["release check"]
    assert ok, detail
    assert "fails until the version is bumped" in detail


def test_a_new_required_field_is_refused_by_name_before_sending() -> None:
    """Construction, reads, waits, downloads keep working; a submit without the field
    is refused by name, before sending, on every surface."""
    results = evolve("required")["results"]
    assert {
        "client construction, reads, waits, downloads",
        "client submit",
        "cli",
        "sandbox",
    } <= set(results)
    assert "nothing sent" in results["client submit"][1]


def test_a_renamed_response_field_fails_at_the_first_answer_naming_it() -> None:
    """The sandbox follows the schema; the client fails at the first answer, naming the
    change, and the project's own tests fail by name."""
    rename = evolve("rename")
    assert "no longer declared" in rename["results"]["client"][1]
    assert "fails naming image_url" in rename["results"]["own tests fail loudly"][1]
    assert rename["hand_edits"] == 1  # the SDK reads the old name


def test_a_price_rise_is_breaking_with_old_and_new_values() -> None:
    results = evolve("price")["results"]
    assert "$0.02 -> $0.03 (a price rise)" in results["release check"][1]


def test_a_new_poll_interval_needs_its_changelog_line() -> None:
    results = evolve("poll")["results"]
    assert "POLL_INTERVAL_SECONDS: 2.0 -> 5.0" in results["release check"][1]


@pytest.mark.parametrize("change", ["error", "header"])
def test_a_new_error_status_or_header_needs_no_hand_edit(change: str) -> None:
    report = evolve(change)
    assert report["hand_edits"] == 0, report


def test_regenerating_without_the_node_tools_says_so_in_its_exit_status() -> None:
    assert "exit 3" in evolve("no-node")["results"]["regenerate"][1]
