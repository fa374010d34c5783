"""`sharkapi sandbox`'s fault options come from `SandboxConfig`, one per fault setting."""

from __future__ import annotations

import dataclasses

import click

from sharkapi_ext.cli import cli
from sharkapi_ext.sandbox import FAULT_RATE_FIELDS, SandboxConfig


def _sandbox_command() -> click.Command:
    command = cli.get_command(click.Context(cli), "sandbox")  # loaded on demand (lazy group)
    assert command is not None
    return command


def test_every_fault_setting_has_its_option_with_the_configs_default() -> None:
    command = _sandbox_command()
    params = {p.name: p for p in command.params if isinstance(p, click.Option)}
    defaults = {f.name: f.default for f in dataclasses.fields(SandboxConfig)}
    for name in FAULT_RATE_FIELDS:
        assert name in params, f"--{name.replace('_', '-')} is missing"
        if name != "seed":
            assert params[name].default == defaults[name], name
            assert params[name].help, name  # from the config's docstring


def test_the_options_build_a_valid_config() -> None:
    command = _sandbox_command()
    context = command.make_context("sandbox", ["--rate-429", "0.5", "--bad-schema"])
    faults = {k: v for k, v in context.params.items() if k in FAULT_RATE_FIELDS and k != "seed"}
    config = SandboxConfig(**faults)
    assert config.rate_429 == 0.5
    assert config.bad_schema is True
