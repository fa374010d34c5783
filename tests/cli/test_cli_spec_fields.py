"""The CLI's request options come from the spec: modes, prices, and every request field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import click
import pytest
import sharkapi_spec as spec
from click.testing import CliRunner

from sharkapi_ext.cli import _batch_file as batch_file_module
from sharkapi_ext.cli import cli
from sharkapi_ext.cli._batch import BatchFileError, parse_batch_file
from sharkapi_ext.cli._fields import pop_extra_fields, request_field_options
from sharkapi_ext.sandbox import Sandbox


@pytest.mark.parametrize("command", ["generate", "batch"])
def test_mode_choices_and_help_come_from_the_spec(runner: CliRunner, command: str) -> None:
    found = cli.get_command(click.Context(cli), command)  # loaded on demand (lazy group)
    assert found is not None
    param = next(p for p in found.params if p.name == "mode")
    assert isinstance(param.type, click.Choice)
    assert tuple(param.type.choices) == spec.MODES
    assert param.default == spec.DEFAULT_MODE
    text = " ".join(runner.invoke(cli, [command, "--help"]).output.split())
    for mode, (width, height) in spec.MODE_SIZES.items():
        assert f"{mode} ({width}×{height}, ${spec.MODE_PRICES[mode]})" in text


def test_a_field_the_spec_does_not_declare_is_refused_before_sending(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str]
) -> None:
    result = runner.invoke(cli, [*api_args, "generate", "a shark", "--field", "sead=3"])
    assert result.exit_code == 2, result.output
    assert "sead" in result.stderr
    assert "not a request field" in result.stderr
    assert sandbox.requests() == []


def test_field_option_needs_name_and_value(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["generate", "a shark", "--field", "seed"])
    assert result.exit_code == 2
    assert "NAME=VALUE" in result.stderr


@pytest.fixture
def later_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec as a later release might have it: `later_seed` (integer), `later_style` (enum)."""
    schema = copy.deepcopy(dict(spec.GENERATE_REQUEST_SCHEMA))
    schema["properties"]["later_seed"] = {"type": "integer", "description": "Random seed."}
    schema["properties"]["later_style"] = {"type": "string", "enum": ["vivid", "natural"]}
    fields = (*spec.GENERATE_REQUEST_FIELDS, "later_seed", "later_style")
    monkeypatch.setattr(spec, "GENERATE_REQUEST_SCHEMA", MappingProxyType(schema))
    monkeypatch.setattr(spec, "GENERATE_REQUEST_FIELDS", fields)
    monkeypatch.setattr(batch_file_module, "GENERATE_REQUEST_FIELDS", fields)


@pytest.mark.usefixtures("later_spec")
def test_each_new_spec_field_gets_a_typed_option() -> None:
    seen: dict[str, Any] = {}

    @click.command()
    @request_field_options(frozenset())
    def command(**options: Any) -> None:
        seen.update(pop_extra_fields(options) or {})
        assert options == {}

    result = CliRunner().invoke(
        command, ["--later-seed", "3", "--later-style", "vivid", "--field", "tags=[1, 2]"]
    )
    assert result.exit_code == 0, result.output
    assert seen == {"later_seed": 3, "later_style": "vivid", "tags": [1, 2]}
    bad = CliRunner().invoke(command, ["--later-style", "sepia"])
    assert bad.exit_code == 2
    assert "vivid" in bad.output


@pytest.mark.usefixtures("later_spec")
def test_batch_lines_take_every_spec_field(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    lines = [
        {"prompt": "a", "later_seed": 3},
        {"prompt": "b", "mode": spec.MODES[-1]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    first, second = parse_batch_file(path, spec.DEFAULT_MODE)
    assert first.extra_fields == {"later_seed": 3}
    assert first.mode == spec.DEFAULT_MODE
    assert second.extra_fields == {}
    assert second.mode == spec.MODES[-1]


def test_batch_line_with_an_unknown_field_names_the_spec_fields(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text('{"prompt": "a", "sead": 3}\n', encoding="utf-8")
    with pytest.raises(BatchFileError, match="sead") as info:
        parse_batch_file(path, spec.DEFAULT_MODE)
    for name in spec.GENERATE_REQUEST_FIELDS:
        assert name in str(info.value)
