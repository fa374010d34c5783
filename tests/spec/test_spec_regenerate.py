"""generated/ is what openapi.yaml generates, and `scripts/regenerate --check` notices when not."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from spec_helpers import ROOT


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    # sys.executable: the script checks the pinned generator and ruff in this interpreter.
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "regenerate"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_regenerate_check_passes_on_this_checkout() -> None:
    done = run_check(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is current" in done.stdout


def test_regenerate_check_fails_and_names_stale_files_when_spec_changes(tmp_path: Path) -> None:
    shutil.copy2(ROOT / "openapi.yaml", tmp_path / "openapi.yaml")
    shutil.copytree(
        ROOT / "generated", tmp_path / "generated", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("node"))
    spec = tmp_path / "openapi.yaml"
    text = spec.read_text(encoding="utf-8")
    old = "A job just accepted by `POST /v1/generate` (vendor)."
    assert text.count(old) == 1
    spec.write_text(text.replace(old, "A job that was just accepted (vendor)."), encoding="utf-8")

    done = run_check(tmp_path)

    assert done.returncode != 0
    assert "generated/ is stale" in done.stderr
    assert "sharkapi_client/models/job.py" in done.stderr  # the stale file is named ...
    # ... with a diff of what changed
    assert "+++ regenerated/sharkapi_client/models/job.py" in done.stdout
    assert "A job that was just accepted (vendor)." in done.stdout
    assert "models/job_status.py" not in done.stderr
    # The facts module keeps the schema descriptions, so it is stale too.
    assert "sharkapi_spec/__init__.py" in done.stderr  # and only the stale ones
    # The copy really was checked, not the repository.
    assert (ROOT / "openapi.yaml").read_text(encoding="utf-8").count(old) == 1
