"""Running Prism (pinned in scripts/node/package.json) for the contract tests.

Prism is started directly from node_modules/.bin (killing an `npx` wrapper would
leave node running), on a free port of 127.0.0.1, and stopped afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi.yaml"
NODE_BIN = ROOT / "scripts" / "node" / "node_modules" / ".bin"
PRISM = NODE_BIN / "prism"
START_TIMEOUT = 30.0


def ensure_node_tools() -> None:
    """Install the pinned Node tools if this clone has none yet; fail (never skip) without npm."""
    if PRISM.exists():
        return
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found on PATH: the Prism contract tests need Node.js "
            "18+ with npm (scripts/setup-node installs Prism from scripts/node/package-lock.json)"
        )
    done = subprocess.run(
        [str(ROOT / "scripts" / "setup-node")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"scripts/setup-node failed:\n{done.stdout}{done.stderr}"
    assert PRISM.exists(), f"scripts/setup-node ran but {PRISM} is missing"


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
    ensure_node_tools()
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(PRISM), *args, "-h", "127.0.0.1", "-p", str(port)],
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
