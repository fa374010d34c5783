"""Running Prism (pinned in scripts/node/package.json) for the contract tests.

Prism is started directly from node_modules/.bin (killing an `npx` wrapper would
leave node running), on a free port of 127.0.0.1, and stopped afterwards.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from node_tools import node_tool

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi.yaml"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_answering(process: subprocess.Popen[bytes], url: str, log: Path) -> bool:
    """True once Prism answers any HTTP request; False if it exits (say, the port was taken)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            httpx.get(f"{url}/v1/jobs/job_probe", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return True
    stop(process)
    pytest.fail(f"Prism did not answer within {START_TIMEOUT:.0f}s:\n{log.read_text()}")


@contextlib.contextmanager
def running_prism(*args: str, log: Path) -> Iterator[str]:
    """Run `prism ARGS -h 127.0.0.1 -p PORT`; yield its base URL; stop it afterwards."""
    prism = node_tool("prism")
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(prism), *args, "-h", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        try:
            if wait_until_answering(process, url, log):
                yield url
                return
        finally:
            stop(process)
    pytest.fail(f"Prism exited before answering, three times; last log:\n{log.read_text()}")
