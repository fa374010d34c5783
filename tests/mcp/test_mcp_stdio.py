"""`sharkapi mcp` as a host runs it: a subprocess speaking MCP on stdin/stdout."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_helpers import Session, connect, run, text

from sharkapi_ext.sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.timeout(150)

#: A server process starts in seconds on a loaded machine (it imports the MCP SDK).
STDIO_SECONDS = 90


def _server(
    args: list[str], cwd: Path, env: dict[str, str], group: tuple[str, ...] = ()
) -> StdioServerParameters:
    # Like a host, the MCP client passes only a few variables on: no SHARKAPI_* from here.
    if "PYTHONPATH" in os.environ:
        env = {"PYTHONPATH": os.environ["PYTHONPATH"], **env}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "sharkapi_ext.cli", *group, "mcp", *args],
        cwd=cwd,
        env=env,
    )


def test_sandbox_demo_over_stdio_lists_generates_and_goes_pending(tmp_path: Path) -> None:
    errors = tmp_path / "stderr.log"

    async def body() -> None:
        with errors.open("w") as errlog:
            transport = stdio_client(
                _server(["--sandbox", "--max-wait", "0.3"], tmp_path, {}), errlog=errlog
            )
            async with Client(transport, read_timeout_seconds=30) as client:
                s = Session(client)
                assert "never resubmit a job that may exist" in (client.instructions or "")
                names = sorted(t.name for t in (await client.list_tools()).tools)
                assert names == ["generate_image", "get_job", "list_jobs", "wait_for_job"]
                # The --sandbox job takes about 2 s: longer than --max-wait.
                first = await s.call("generate_image", {"prompt": "a great white shark"})
                assert first.structured_content["status"] == "pending", text(first)
                job_id = first.structured_content["job_id"]
                assert s.progress
                assert all(job_id in (m or "") for _, _, m in s.progress)
                for _ in range(40):
                    done = await s.call("wait_for_job", {"job_id": job_id})
                    if done.structured_content["status"] != "pending":
                        break
                assert done.structured_content["status"] == "complete", text(done)
                assert any(c.type == "image" for c in done.content)
                saved = Path(done.structured_content["path"])
                assert saved == tmp_path.resolve() / "sharkapi-images" / f"{job_id}.png"
                assert saved.is_file()
                jobs = await s.call("list_jobs")
                assert [j["job_id"] for j in jobs.structured_content["jobs"]] == [job_id]

    run(body, STDIO_SECONDS)
    assert "submitted job" in errors.read_text()


def test_real_token_over_stdio_never_reaches_a_result_or_the_log(tmp_path: Path) -> None:
    token = "sk_test_" + secrets.token_hex(16)
    errors = tmp_path / "stderr.log"
    seen: list[str] = []
    ok_job = ""
    with Sandbox(SandboxConfig(queued_seconds=0.05, processing_seconds=0.1)) as sandbox:
        env = {"SHARKAPI_TOKEN": token, "SHARKAPI_BASE_URL": sandbox.base_url}

        async def body() -> None:
            nonlocal ok_job
            with errors.open("w") as errlog:
                transport = stdio_client(
                    _server(["--max-cost", "0.02"], tmp_path, env, ("--poll-interval", "0.05")),
                    errlog=errlog,
                )
                async with Client(transport, read_timeout_seconds=30) as client:
                    s = Session(client)
                    # The same tools, schemas and annotations as the in-process tests check.
                    over_stdio = (await client.list_tools()).tools
                    async with connect(sandbox, tmp_path / "inproc") as local:
                        in_process = (await local.client.list_tools()).tools
                    assert [t.name for t in over_stdio] == [t.name for t in in_process]
                    for remote, here in zip(over_stdio, in_process, strict=True):
                        assert remote.annotations == here.annotations
                        assert remote.input_schema["properties"].keys() == (
                            here.input_schema["properties"].keys()
                        )
                        for name, prop in remote.input_schema["properties"].items():
                            if name != "image_path":  # names this server's directories
                                assert prop == here.input_schema["properties"][name]
                    ok = await s.call("generate_image", {"prompt": "a shark"})
                    assert not ok.is_error, text(ok)
                    assert any(c.type == "image" for c in ok.content)
                    ok_job = ok.structured_content["job_id"]
                    assert ok_job in text(ok)
                    blocked = await s.call("generate_image", {"prompt": "a [blocked] shark"})
                    assert blocked.structured_content["kind"] == "moderated"
                    failed = await s.call("generate_image", {"prompt": "a [fail] shark"})
                    assert failed.structured_content["kind"] == "job_failed"
                    assert failed.structured_content["job_id"] in text(failed)
                    capped = await s.call("generate_image", {"prompt": "a shark"})
                    assert capped.structured_content["kind"] == "spend_cap"
                    outside = await s.call(
                        "generate_image", {"prompt": "p", "image_path": "/etc/hostname"}
                    )
                    assert outside.structured_content["kind"] == "path_not_allowed"
                    seen.append(s.everything_sent())

        run(body, STDIO_SECONDS)
        # The sandbox saw the token (the calls were authenticated with it) ...
        assert len(sandbox.submissions()) == 2
        assert [(c.job_id, c.amount) for c in sandbox.ledger()] == [(ok_job, Decimal("0.01"))]
    log = errors.read_text()
    # ... and the server logged its work, but never the token.
    assert "submitted job" in log
    assert "ended failed" in log
    assert token not in log
    assert token not in seen[0]


def test_without_a_token_over_stdio_the_tools_say_to_set_it_in_the_servers_environment(
    tmp_path: Path,
) -> None:
    errors = tmp_path / "stderr.log"
    said: list[str] = []

    async def body() -> None:
        with errors.open("w") as errlog:
            transport = stdio_client(_server([], tmp_path, {}), errlog=errlog)
            async with Client(transport, read_timeout_seconds=30) as client:
                result = await Session(client).call("generate_image", {"prompt": "a shark"})
                assert result.is_error
                assert result.structured_content["kind"] == "auth"
                said.append(text(result))

    run(body, STDIO_SECONDS)
    # No tool takes a token, and the model must not ask for one: the user sets it.
    assert "token=" not in said[0]
    assert "SHARKAPI_TOKEN is not set in this MCP server's environment" in said[0]
    assert "token=" not in errors.read_text()


def test_the_token_is_refused_on_the_command_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sharkapi_ext.cli import cli

    result = CliRunner().invoke(cli, ["--token", "sk_test_x", "mcp", "--sandbox"])
    assert result.exit_code == 2
    assert "SHARKAPI_TOKEN only" in result.output
    assert "sk_test_x" not in result.output


def test_the_cli_does_not_import_the_mcp_sdk_until_the_command_runs() -> None:
    code = (
        "import sys; from sharkapi_ext.cli import cli; "
        "import click; assert cli.get_command(click.Context(cli), 'mcp') is not None; "
        "loaded = sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')); "
        "print(loaded)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--max-cost", "-1"], "must be a finite amount >= 0"),
        (["--max-cost", "lots"], "not an amount of dollars"),
        (["--max-cost", "NaN"], "must be a finite amount >= 0"),
        (["--max-wait", "0"], "positive, finite number of seconds"),
        (["--max-wait", "inf"], "positive, finite number of seconds"),
        (["--allow-dir", "/nonexistent-dir-for-sure"], "does not exist"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], words: str) -> None:
    from click.testing import CliRunner

    from sharkapi_ext.cli import cli

    result = CliRunner().invoke(cli, ["mcp", "--sandbox", *args])
    assert result.exit_code == 2, result.output
    assert words in result.output
