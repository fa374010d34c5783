"""`sharkapi generate`: the sandbox demo, text and JSON output, and errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from sharkapi_ext.cli import cli
from sharkapi_ext.sandbox import Sandbox


def test_generate_sandbox_makes_a_real_png(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "shark.png"
    result = runner.invoke(cli, ["generate", "--sandbox", "a great white shark", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (1024, 1024)
    assert f"Saved {out}" in result.stdout
    assert "$0.01" in result.stdout


def test_generate_sandbox_as_global_option(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "shark.png"
    result = runner.invoke(
        cli, ["--sandbox", "--poll-interval", "0.1", "generate", "a shark", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()


def test_generate_json(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    result = runner.invoke(
        cli, [*api_args, "generate", "a hammerhead", "--mode", "2k", "-o", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "complete"
    assert data["cost"] == "0.02"
    assert data["mode"] == "2k"
    assert Path(data["path"]) == tmp_path / f"{data['job_id']}.png"
    with Image.open(data["path"]) as image:
        assert image.size == (2048, 2048)
    assert sandbox.token not in result.output
