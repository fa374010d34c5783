"""The file guard under a hostile file system: links swapped in while it reads.

The attacker here can write inside an allowed directory (a model with another file
tool can) and swaps a symlink to a secret file in and out as fast as it can while the
guard reads. Whatever the timing, the guard returns the inside file's bytes or refuses;
it never returns the secret.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_helpers import run

from sharkapi_ext import AsyncSharkAPI, InvalidRequestError, Job
from sharkapi_ext.mcp import PathGuard, ServerConfig, _guard
from sharkapi_ext.mcp._server import build_server

pytestmark = pytest.mark.timeout(60)

#: Reads per case. The check-then-open guard read the secret in every run of 3000 reads
#: (91 of 30000 in ten runs), first after 40 to 1214 tries, on the loaded two-core machine
#: this was written on. The swap landing exactly between check and open is also tested
#: without luck, below.
TRIES = 3000

INSIDE = b"\x89PNG\r\n\x1a\ninside"
SECRET = b"SECRET from outside the allowed directory"


@contextmanager
def _swapping(step: Callable[[int], None]) -> Iterator[None]:
    """Run `step(n)` for n = 1, 2, ... in a thread until the block ends."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def loop() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1
                step(n)
        except BaseException as exc:  # surfaced below, not lost in the thread
            failures.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the two threads finely, as two processes would
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        sys.setswitchinterval(interval)
    assert not thread.is_alive()
    assert not failures, failures


def _file_swap(allowed: Path, secret: Path) -> tuple[str, Callable[[int], None]]:
    """`allowed/x.png` is atomically replaced, in turn, by a link to the secret and by
    the inside file (a hard link, so the bytes stay the same)."""
    (allowed / "real.png").write_bytes(INSIDE)
    os.link(allowed / "real.png", allowed / "x.png")

    def step(n: int) -> None:  # ends as it began, so the last read after it is inside
        link = allowed / f".link{n}"
        link.symlink_to(secret)
        os.replace(link, allowed / "x.png")
        inside = allowed / f".file{n}"
        os.link(allowed / "real.png", inside)
        os.replace(inside, allowed / "x.png")

    return "x.png", step


def _directory_swap(allowed: Path, secret: Path) -> tuple[str, Callable[[int], None]]:
    """`allowed/sub` is in turn the real directory and a link to the secret's directory."""
    (allowed / "sub").mkdir()
    (allowed / "sub" / "x.png").write_bytes(INSIDE)

    def step(n: int) -> None:
        os.rename(allowed / "sub", allowed / ".real")
        (allowed / "sub").symlink_to(secret.parent, target_is_directory=True)
        os.sched_yield()  # let the reader see the link, not only the directory
        (allowed / "sub").unlink()
        os.rename(allowed / ".real", allowed / "sub")
        os.sched_yield()  # and the directory

    return "sub/x.png", step


@pytest.mark.parametrize("opener", ["openat", "open_and_compare"])
@pytest.mark.parametrize("swap", [_file_swap, _directory_swap], ids=["file", "directory"])
def test_a_link_swapped_in_while_reading_never_yields_bytes_from_outside(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    swap: Callable[[Path, Path], tuple[str, Callable[[int], None]]],
    opener: str,
) -> None:
    if opener == "open_and_compare":  # the way taken where openat is missing (Windows)
        monkeypatch.setattr(_guard, "_OPENAT", False)
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "x.png"
    secret.write_bytes(SECRET)
    path, step = swap(allowed, secret)
    guard = PathGuard([allowed])
    outcomes: Counter[str] = Counter()
    with _swapping(step):
        for _ in range(TRIES):
            try:
                data = guard.read(path)
            except InvalidRequestError:  # refused: outside at the check, missing, or changed
                outcomes["refused"] += 1
                continue
            outcomes["secret" if data == SECRET else "inside" if data == INSIDE else "other"] += 1
    assert outcomes["secret"] == 0, outcomes
    assert outcomes["other"] == 0, outcomes
    assert guard.read(path) == INSIDE  # and once the links rest, it reads as before


def _swap_after_the_check(
    monkeypatch: pytest.MonkeyPatch, guard: PathGuard, swap: Callable[[], None]
) -> list[int]:
    """Make `swap()` land exactly between the guard's first check and its open."""
    check = guard.resolve
    swaps: list[int] = []

    def check_then_swap(path: str) -> Path:
        resolved = check(path)
        if not swaps:  # only once: the next attempt checks what is there now
            swaps.append(1)
            swap()
        return resolved

    monkeypatch.setattr(guard, "resolve", check_then_swap)
    return swaps


@pytest.mark.parametrize("opener", ["openat", "open_and_compare"])
def test_a_link_swapped_in_between_the_check_and_the_open_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opener: str
) -> None:
    # The race without luck: the swap lands exactly between the check and the open.
    if opener == "open_and_compare":
        monkeypatch.setattr(_guard, "_OPENAT", False)
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (tmp_path / "secret.png").write_bytes(SECRET)
    (allowed / "x.png").write_bytes(INSIDE)
    guard = PathGuard([allowed])

    def swap() -> None:
        (allowed / "x.png").unlink()
        (allowed / "x.png").symlink_to(tmp_path / "secret.png")

    swaps = _swap_after_the_check(monkeypatch, guard, swap)
    with pytest.raises(InvalidRequestError, match="outside the allowed directories"):
        guard.read("x.png")
    assert swaps == [1]


def test_an_allowed_directory_inside_another_swapped_for_a_link_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Walking from the inner allowed directory would open its path, link and all; the
    # guard walks from the outermost one, so the link is a component it refuses to follow.
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    (outer / "inner" / "x.png").write_bytes(INSIDE)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.png").write_bytes(SECRET)
    guard = PathGuard([outer / "inner", outer])

    def swap() -> None:
        os.rename(outer / "inner", tmp_path / "moved")
        (outer / "inner").symlink_to(tmp_path / "outside", target_is_directory=True)

    swaps = _swap_after_the_check(monkeypatch, guard, swap)
    with pytest.raises(InvalidRequestError, match="outside the allowed directories"):
        guard.read(str(outer / "inner" / "x.png"))
    assert swaps == [1]


def test_a_fifo_swapped_in_after_the_check_is_refused_without_waiting_for_a_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "x.png").write_bytes(INSIDE)
    guard = PathGuard([tmp_path])

    def swap() -> None:
        (tmp_path / "x.png").unlink()
        os.mkfifo(tmp_path / "x.png")

    _swap_after_the_check(monkeypatch, guard, swap)
    with pytest.raises(InvalidRequestError, match="not a regular file"):
        guard.read("x.png")


@pytest.mark.parametrize("bad", ["x\0.png", "\0", "/etc/passwd\0.png", "x\ud800.png"])
def test_a_path_no_file_system_takes_is_a_typed_invalid_argument(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        PathGuard([tmp_path]).read(bad)
    assert refused.value.field == "image_path"


class _RecordingClient(AsyncSharkAPI):
    """Records the `image` each submit is given, then refuses it: nothing is sent."""

    def __init__(self) -> None:
        super().__init__("sk_test_recording", base_url="http://127.0.0.1:9")
        self.images: list[object] = []

    async def submit(self, prompt: str, **kwargs: Any) -> Job:  # type: ignore[override]
        self.images.append(kwargs.get("image"))
        raise InvalidRequestError("image", "recorded by the test; not sent")


def test_the_tool_passes_on_the_bytes_it_read_never_a_path_under_swapping_links(
    tmp_path: Path,
) -> None:
    # The client gets what the guard read, as bytes: a path would be opened again later,
    # by name, and reopen the race the guard closed.
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "x.png"
    secret.write_bytes(SECRET)
    path, step = _file_swap(allowed, secret)
    calls = 200
    kinds: Counter[str] = Counter()

    async def body(client: _RecordingClient) -> None:
        server = build_server(
            client,
            ServerConfig(allow_dirs=[allowed], output_dir=tmp_path / "out"),
        )
        async with Client(server) as session:
            with _swapping(step):
                for _ in range(calls):
                    result = await session.call_tool(
                        "generate_image", {"prompt": "p", "image_path": path}
                    )
                    kinds[result.structured_content["kind"]] += 1  # type: ignore[index]

    async def main() -> None:
        async with _RecordingClient() as client:
            await body(client)
            assert client.images, kinds
            assert all(type(image) is bytes for image in client.images)
            assert all(image == INSIDE for image in client.images)

    run(main)
    # Refused as outside while the link was in place, or read from inside and passed on.
    assert set(kinds) <= {"path_not_allowed", "invalid_argument"}, kinds


@pytest.mark.parametrize("bad", ["x\0.png", "x\ud800.png"])
def test_a_nul_in_image_path_is_an_invalid_argument_naming_it_and_nothing_is_sent(
    tmp_path: Path, bad: str
) -> None:
    async def main() -> None:
        async with _RecordingClient() as client:
            server = build_server(
                client, ServerConfig(allow_dirs=[tmp_path], output_dir=tmp_path / "out")
            )
            async with Client(server) as session:
                result = await session.call_tool(
                    "generate_image", {"prompt": "p", "image_path": bad}
                )
            assert client.images == []
        assert result.is_error
        data = result.structured_content
        assert data is not None
        assert data["kind"] == "invalid_argument", data
        assert data["message"].startswith("image_path: ")
        assert "retrying this tool is safe" not in data["what_to_do"]
        assert not data["job_may_exist"]

    run(main)
