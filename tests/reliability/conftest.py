"""Hands `scripts/reliability` the data the reliability tests gather, after the session.

The tests only check. Several of them also note what they tried (module globals such as
``COUNTS`` or ``ROWS``); when ``SHARKAPI_RELIABILITY_FIGURES`` names a folder (set by
scripts/reliability), the session's end writes each module's notes there as
``data_<module>.json``, and scripts/reliability makes RELIABILITY.md's figures of them.
No test depends on running last.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import FIGURES_ENV

# Test module -> the module globals its figures are made of (scripts/reliability, FIGURES).
FIGURE_DATA = {
    "test_bad_input": ("EXAMPLES", "COUNTS", "FIXED_BUGS", "OTHER_FIXED_BUGS"),
    "test_batch_resume": ("RUNS",),
    "test_cli_bad_input": ("TRIED",),
    "test_connection_faults": ("TIMEOUT", "MARGIN", "RESULTS"),
    "test_hostile_answers": ("COUNTS", "OUTCOMES"),
    "test_hostile_servers": ("TIMEOUT", "SLACK", "ROWS"),
    "test_secrets": ("FIGURES",),
}


def _plain(value: Any) -> Any:
    if isinstance(value, collections.Counter):
        return dict(sorted(value.items()))
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get(FIGURES_ENV)
    if not folder:
        return
    modules = {}
    for item in session.items:
        module = getattr(item, "module", None)
        if module is not None and module.__file__:
            modules[Path(module.__file__).stem] = module
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for stem, names in FIGURE_DATA.items():
        module = modules.get(stem)
        if module is not None:
            data = {name: getattr(module, name) for name in names}
            text = json.dumps(data, indent=2, sort_keys=True, default=_plain)
            (out / f"data_{stem}.json").write_text(text)
