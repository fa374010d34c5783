"""`scripts/api-diff` knows facts, not only schemas (issue 25).

A change of an `x-sharkapi-*` fact is reported with its old and new value; a price rise,
a newly charged status or a newly paid operation is breaking for a paid API; each change
needs a CHANGELOG.md line that names it. Run on copies of the spec's text, in process.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from types import ModuleType
from typing import Any

import pytest
from spec_helpers import ROOT


def _load(name: str) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(
        name.replace("-", "_"), str(ROOT / "scripts" / name)
    )
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


API_DIFF = _load("api-diff")
SPEC = (ROOT / "openapi.yaml").read_text(encoding="utf-8")


def _facts(text: str) -> dict[str, Any]:
    facts: dict[str, Any] = API_DIFF.spec_facts(text, "a copy")
    return facts


def _changes(new_text: str) -> list[tuple[str, str, bool]]:
    changes: list[tuple[str, str, bool]] = API_DIFF.fact_changes(_facts(SPEC), _facts(new_text))
    return changes


def _edit(old: str, new: str) -> str:
    assert SPEC.count(old) == 1, old
    return SPEC.replace(old, new)


PRICE_RISE = _edit('"2k": {price: "$0.02"', '"2k": {price: "$0.03"')
PRICE_CUT = _edit('"2k": {price: "$0.02"', '"2k": {price: "$0.015"')
NEWLY_CHARGED = _edit(
    "moderated: {terminal: true, charged: false", "moderated: {terminal: true, charged: true"
)
POLL = _edit("x-sharkapi-poll-interval-seconds: 2\n", "x-sharkapi-poll-interval-seconds: 5\n")
NEWLY_PAID = _edit("x-sharkapi-paid: false\n", "x-sharkapi-paid: true\n")
BIGGER_IMAGES = _edit(
    "x-sharkapi-max-decoded-bytes: 10485760", "x-sharkapi-max-decoded-bytes: 1048576"
)


def test_the_same_spec_has_no_fact_change() -> None:
    assert _changes(SPEC) == []


def test_a_price_rise_is_reported_with_old_and_new_and_is_breaking() -> None:
    changes = _changes(PRICE_RISE)
    lines = [line for _, line, _ in changes]
    assert "MODE_PRICES[2k]: $0.02 -> $0.03 (a price rise)" in lines, lines
    assert "MAX_MODE_PRICE: $0.02 -> $0.03" in lines, lines
    assert all(breaking for _, _, breaking in changes)


def test_a_price_cut_is_reported_and_not_breaking() -> None:
    changes = _changes(PRICE_CUT)
    assert changes[0][1] == "MODE_PRICES[2k]: $0.02 -> $0.015"
    assert not any(breaking for _, _, breaking in changes)


def test_a_newly_charged_status_is_breaking() -> None:
    [(name, line, breaking)] = _changes(NEWLY_CHARGED)
    assert name == "CHARGED_STATUSES"
    assert "{complete} -> {complete, moderated} (newly charged: moderated)" in line
    assert breaking


def test_a_newly_paid_operation_is_breaking() -> None:
    [(name, line, breaking)] = _changes(NEWLY_PAID)
    assert (name, breaking) == ("PAID_OPERATIONS", True)
    assert "newly paid: getJob" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (POLL, "POLL_INTERVAL_SECONDS: 2.0 -> 5.0"),
        (BIGGER_IMAGES, "IMAGE_MAX_BYTES: 10485760 -> 1048576"),
    ],
)
def test_other_facts_are_reported_and_need_a_changelog_line(text: str, expected: str) -> None:
    changes = _changes(text)
    assert [line for _, line, _ in changes] == [expected]
    assert not changes[0][2]
    empty = "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - x\n\n- nothing relevant\n"
    assert API_DIFF.changelog_lacks(empty, "0.2.0", changes) == [changes[0][0]]
    word = API_DIFF.FACT_WORDS[changes[0][0]]
    documented = empty.replace("## [Unreleased]\n", f"## [Unreleased]\n\n- The {word} changed.\n")
    assert API_DIFF.changelog_lacks(documented, "0.2.0", changes) == []
    # The released version's own section says nothing about changes since.
    released = empty.replace("- nothing relevant", f"- the {word} of the release")
    assert API_DIFF.changelog_lacks(released, "0.2.0", changes, "0.2.0") == [changes[0][0]]
    assert API_DIFF.changelog_lacks(released, "0.2.0", changes, "0.1.0") == []


def test_on_a_free_api_a_price_rise_is_not_breaking() -> None:
    free = PRICE_RISE.replace("x-sharkapi-paid: true\n", "x-sharkapi-paid: false\n")
    changes = API_DIFF.fact_changes(
        _facts(SPEC.replace("x-sharkapi-paid: true\n", "x-sharkapi-paid: false\n")), _facts(free)
    )
    assert changes
    assert not any(breaking for _, _, breaking in changes)
