"""The server: context manager, the pytest fixture, clean shutdown, import hygiene."""

from __future__ import annotations

import ast
import logging
import pathlib
import socket
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

import sharkapi_ext.sandbox
from sharkapi_ext.sandbox import Sandbox, SandboxConfig


def sandbox_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sharkapi-sandbox-")]


def test_fixture_gives_a_running_fast_sandbox(sharkapi_sandbox: Sandbox) -> None:
    assert sharkapi_sandbox.running
    assert sharkapi_sandbox.config.queued_seconds == 0.05
    headers = {"Authorization": f"Bearer {sharkapi_sandbox.token}"}
    with httpx.Client(base_url=sharkapi_sandbox.base_url, headers=headers) as client:
        job_id = client.post("/v1/generate", json={"prompt": "p", "mode": "1k"}).json()["job_id"]
        # The fixture's point is real fast timings (0.15 s a job): poll, with no fixed wait
        # that a slow machine could outrun.
        started = time.monotonic()
        while client.get(f"/v1/jobs/{job_id}").json()["status"] != "complete":
            assert time.monotonic() - started < 5, "a FAST job took over 5 s"
            time.sleep(0.01)


def test_clean_shutdown() -> None:
    before = set(sandbox_threads())
    with Sandbox(SandboxConfig(queued_seconds=0, processing_seconds=0)) as sandbox:
        assert sandbox.base_url == f"http://127.0.0.1:{sandbox.port}"
        assert sandbox.port > 0
        # An idle keep-alive connection must not hold the shutdown up.
        client = httpx.Client(base_url=sandbox.base_url)
        assert client.get("/_sandbox/ledger").status_code == 200
    started = time.monotonic()
    assert not sandbox.running
    assert set(sandbox_threads()) == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sandbox.base_url}/_sandbox/ledger")
    client.close()
    assert time.monotonic() - started < 5
    sandbox.stop()  # twice is harmless


def test_two_sandboxes_get_different_ports() -> None:
    with Sandbox() as first, Sandbox() as second:
        assert first.port != second.port
        assert first.state is not second.state


def test_sandbox_cannot_start_twice() -> None:
    with Sandbox() as sandbox, pytest.raises(RuntimeError, match="already"):
        sandbox.start()


def test_stop_during_a_slow_request() -> None:
    with Sandbox() as sandbox:
        errors: list[BaseException] = []

        def slow() -> None:
            try:
                httpx.get(
                    f"{sandbox.base_url}/v1/jobs/job_1",
                    headers={
                        "X-Sandbox-Fault": "slow;seconds=30",
                        "Authorization": "Bearer sk_test_x",
                    },
                    timeout=10,
                )
            except httpx.HTTPError as exc:
                errors.append(exc)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.1)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    thread.join()
    assert not sandbox.running


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def test_plugin_imports_no_server_code() -> None:
    out = run_python(
        """
        import sys
        import sharkapi_ext.pytest_plugin
        print(sorted(m for m in ("starlette", "uvicorn", "PIL") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_running_the_sandbox_loads_no_client_code() -> None:
    # sharkapi_ext/__init__.py loads the clients lazily, so a process that serves the
    # sandbox never has the generated client or the SDK's core in memory.
    out = run_python(
        """
        import sys, httpx
        from sharkapi_ext.sandbox import Sandbox
        with Sandbox() as sandbox:
            httpx.post(sandbox.base_url + "/v1/generate", json={"prompt": "x", "mode": "1k"},
                       headers={"Authorization": "Bearer " + sandbox.token}).raise_for_status()
        client = ("sharkapi_client", "sharkapi_ext._core", "sharkapi_ext._connection",
                  "sharkapi_ext._client",
                  "sharkapi_ext._async_client", "sharkapi_ext._models")
        print(sorted(m for m in sys.modules if m.startswith(client)))
        """
    )
    assert out.strip() == "[]"


def test_sandbox_is_independent_of_the_client() -> None:
    # The sandbox itself may import only its own modules.
    package = pathlib.Path(sharkapi_ext.sandbox.__file__).parent
    offenders = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 1:
                    names = ["." * node.level + (node.module or "")]
                elif node.level == 0 and node.module:
                    names = [node.module]
            for name in names:
                if name.startswith(("sharkapi_client", "..")) or (
                    name.startswith("sharkapi_ext") and not name.startswith("sharkapi_ext.sandbox")
                ):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", ["/v1/generate", "/_sandbox/tokens"])
def test_a_client_gone_mid_body_is_one_quiet_line_not_a_sandbox_bug(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.DEBUG)
    host, port = sandbox.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {sandbox.token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            '{"prompt": "a shark that never'.encode()
        )
    # Closed with 970 bytes of the body still to come; the sandbox logs the request when
    # it has dealt with it.
    deadline = time.monotonic() + 10
    while not any(r.path == path for r in sandbox.requests()):
        assert time.monotonic() < deadline, "the sandbox never finished the request"
        time.sleep(0.01)
    [record] = [r for r in sandbox.requests() if r.path == path]
    assert record.status == 0  # nothing was answered: nobody was left to read it
    assert sandbox.submissions() == []
    server_lines = [
        r for r in caplog.records if r.name.startswith(("sharkapi_ext.sandbox", "uvicorn"))
    ]
    assert [r.levelno for r in server_lines] == [logging.INFO], [
        r.getMessage() for r in server_lines
    ]
    [line] = server_lines
    assert "bug" not in line.getMessage()
    assert f"POST {path}" in line.getMessage()
    assert line.exc_info is None
