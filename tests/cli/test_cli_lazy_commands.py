"""The group loads only the command it runs; ``sharkapi --help`` still lists every command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sharkapi_ext.cli import cli
from sharkapi_ext.cli._group import COMMANDS
from sharkapi_ext.sandbox import Sandbox

_COMMAND_MODULES = {
    name: target.partition(":")[0]
    for name, target in COMMANDS.items()
    if target.startswith("sharkapi_ext.cli._commands.")
}


def test_every_command_of_the_table_loads_under_its_name() -> None:
    context = click.Context(cli)
    assert cli.list_commands(context) == sorted(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert isinstance(command, click.Command), name
        assert command.name == name
    assert cli.get_command(context, "nosuch") is None


def test_help_lists_every_command_with_its_short_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    context = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None
        short = command.get_short_help_str(limit=45).rstrip(".")
        assert any(
            line.split()[:1] == [name] and short[:30] in line for line in listed.splitlines()
        ), (name, short)


def test_a_command_does_not_import_the_other_commands() -> None:
    # A fresh interpreter: this test process has imported every command already.
    code = (
        "import json, sys; from sharkapi_ext.cli import main\n"
        "try:\n    main(['batch', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('sharkapi_ext'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert _COMMAND_MODULES["batch"] in loaded
    others = {module for name, module in _COMMAND_MODULES.items() if name != "batch"}
    assert others, _COMMAND_MODULES
    assert not loaded & others, loaded & others
    # Nor the sandbox's or the MCP server's packages (`sandbox` and `mcp` commands).
    assert not {m for m in loaded if m.startswith(("sharkapi_ext.sandbox", "sharkapi_ext.mcp"))}


def test_the_groups_commands_mapping_names_every_command_and_loads_one_on_read() -> None:
    # `cli.commands` is public click API: it still holds every command by name. Reading
    # the names imports nothing; reading one command imports that module alone.
    code = (
        "import json, sys; from sharkapi_ext.cli import cli\n"
        "before = sorted(m for m in sys.modules if '._commands.' in m)\n"
        "names = sorted(cli.commands); has = 'wait' in cli.commands; size = len(cli.commands)\n"
        "listed = sorted(m for m in sys.modules if '._commands.' in m)\n"
        "command = cli.commands['wait']\n"
        "after = sorted(m for m in sys.modules if '._commands.' in m)\n"
        "print(json.dumps([before, names, has, size, listed, command.name, after]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    before, names, has, size, listed, name, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == []
    assert listed == []
    assert names == sorted(COMMANDS)
    assert has
    assert size == len(COMMANDS)
    assert name == "wait"
    assert after == [_COMMAND_MODULES["wait"]]


def test_a_command_added_later_joins_the_mapping() -> None:
    @click.group(cls=type(cli))
    def group() -> None:
        """A group of the same class."""

    @group.command()
    def extra() -> None:
        """An added command."""

    assert "extra" in group.commands
    assert "batch" in group.commands
    assert group.commands["extra"] is extra
    del group.commands["extra"]
    assert "extra" not in group.commands
    assert sorted(group.commands) == sorted(COMMANDS)


def _modules_after(code: str, cwd: str | None = None) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running `code`."""
    code += "\nprint(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


# What a command that sends nothing need not load: the HTTP stack, the event loop, the
# generated client and the terminal UI (a third of a second of start-up together).
_HEAVY = {"httpx", "httpcore", "asyncio", "aiohttp", "sharkapi_client", "attrs", "rich"}


def test_importing_the_sdk_loads_no_http_stack() -> None:
    loaded = _modules_after("import json, sys, sharkapi_ext")
    assert not loaded & _HEAVY, loaded & _HEAVY
    # The lazy names still load what they need.
    assert "httpx" in _modules_after("import json, sys; from sharkapi_ext import SharkAPI")


def test_checking_a_batch_and_rerunning_a_finished_one_load_no_http_stack(
    tmp_path: Path,
) -> None:
    """`batch --dry-run`, and a finished batch's rerun, start in a fraction of the time."""
    from sharkapi_ext.cli import _journal

    batch = tmp_path / "b.txt"
    batch.write_text("".join(f"shark {i}\n" for i in range(3)))
    out = tmp_path / "out"
    run = (
        "import json, sys; from sharkapi_ext.cli import main\n"
        "try:\n    main({args!r})\nexcept SystemExit as exc:\n    assert exc.code == 0, exc\n"
    )
    dry = ["batch", str(batch), "--out", str(out), "--dry-run"]
    loaded = _modules_after(run.format(args=dry))
    assert not loaded & _HEAVY, loaded & _HEAVY
    # A finished batch: run it once (in a sandbox of this process), then rerun it.
    with Sandbox() as sandbox:
        api = ["--base-url", sandbox.base_url, "--token", sandbox.token]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_journal, "_COMPACT_MIN_RECORDS", 0)  # as a big batch's history
            first = CliRunner().invoke(cli, [*api, "batch", str(batch), "--out", str(out)])
        assert first.exit_code == 0, first.output
        rerun = ["--base-url", "http://127.0.0.1:9", "--token", "sk_test_x"]
        rerun += ["batch", str(batch), "--out", str(out)]
        loaded = _modules_after(run.format(args=rerun))
    assert not loaded & _HEAVY, loaded & _HEAVY
