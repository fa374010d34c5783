"""download: streamed to a temporary file, checked, capped, renamed; never a partial file."""

from __future__ import annotations

import asyncio
import errno
import gzip
import hashlib
import os
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from client_helpers import JOB_ID, JPEG, PNG, Driver, Twin, make_twin, polled

import sharkapi_ext as sdk

IMAGE = PNG + bytes(range(256)) * 40


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that arrives in pieces, and may break off."""

    def __init__(self, *parts: bytes, fail: bool = False) -> None:
        self.parts = parts
        self.fail = fail
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            self.sent += 1
            yield part
        if self.fail:
            raise httpx.ReadError("connection reset mid-body")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self:
            yield part


def streamed(*parts: bytes, fail: bool = False, **headers: str) -> httpx.Response:
    return httpx.Response(200, stream=Chunks(*parts, fail=fail), headers=headers)


def done_status(twin: Twin) -> sdk.JobStatus:
    twin.script.add(polled("complete"))
    status = twin().get_job(JOB_ID)
    twin.script.requests.clear()
    return status


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*"))


def test_download_into_a_directory(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    twin.script.add(
        streamed(
            IMAGE[:10], IMAGE[10:], **{"Content-Disposition": 'attachment; filename="../x.sh"'}
        )
    )
    path = twin().download(status, tmp_path)
    assert path == tmp_path / f"{JOB_ID}.png"
    assert path.read_bytes() == IMAGE
    assert leftovers(tmp_path) == [f"{JOB_ID}.png"]  # no .part, nothing named by the server
    assert twin.script.requests[0].url == status.image_url


def test_download_to_a_new_directory_and_jpeg_suffix(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    twin.script.add(streamed(JPEG))
    path = twin().download(status, str(tmp_path / "new" / "dir") + "/")
    assert path == tmp_path / "new" / "dir" / f"{JOB_ID}.jpg"
    assert path.read_bytes() == JPEG


def test_download_to_a_file_path(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    target = tmp_path / "sub" / "mine.png"
    twin.script.add(streamed(IMAGE))
    assert twin().download(status, target) == target
    assert target.read_bytes() == IMAGE
    # Replacing an existing file happens atomically, with the same rules.
    twin.script.add(streamed(IMAGE[:-1] + b"!"))
    assert twin().download(status, target) == target
    assert target.read_bytes() == IMAGE[:-1] + b"!"
    # A JPEG is never saved under a ".png" name (issue 12, class 9): the extension
    # follows the content, and the path returned says where it went.
    twin.script.add(streamed(JPEG))
    assert twin().download(status, target) == target.with_suffix(".jpg")
    assert target.with_suffix(".jpg").read_bytes() == JPEG
    twin.script.add(streamed(JPEG))
    assert twin().download(status, tmp_path / "x.jpeg") == tmp_path / "x.jpeg"
    twin.script.add(streamed(IMAGE))
    assert twin().download(status, tmp_path / "x.jpeg") == tmp_path / "x.png"
    twin.script.add(streamed(JPEG))
    assert twin().download(status, tmp_path / "x.img") == tmp_path / "x.img"


def test_download_a_bare_url_is_named_by_hash(twin: Twin, tmp_path: Path) -> None:
    url = "https://cdn.example.net/some/../evil name.png?sig=1"
    twin.script.add(streamed(IMAGE))
    path = twin().download(url, tmp_path)
    assert path.parent == tmp_path
    assert path.name == "image-" + hashlib.sha256(url.encode()).hexdigest()[:16] + ".png"


@pytest.mark.parametrize("body", [b"<html>not an image</html>", b"\x89PNG", b"GIF89a" + b"0" * 50])
def test_download_checks_magic_bytes(twin: Twin, tmp_path: Path, body: bytes) -> None:
    status = done_status(twin)
    twin.script.add(streamed(body))
    with pytest.raises(sdk.DownloadError, match="PNG or JPEG") as info:
        twin().download(status, tmp_path)
    assert info.value.job_id == JOB_ID
    assert leftovers(tmp_path) == []


def test_size_cap_counts_bytes_read_not_content_length(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    body = PNG + b"x" * 5000
    twin.script.add(streamed(body[:1000], body[1000:], **{"Content-Length": "100"}))
    with pytest.raises(sdk.DownloadError, match="cap"):
        twin().download(status, tmp_path, max_bytes=2000)
    assert leftovers(tmp_path) == []


def test_declared_oversize_is_refused_before_reading(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    stream = Chunks(IMAGE)
    twin.script.add(httpx.Response(200, stream=stream, headers={"Content-Length": str(10**9)}))
    with pytest.raises(sdk.DownloadError, match="Content-Length"):
        twin().download(status, tmp_path, max_bytes=10_000)
    assert stream.sent == 0
    assert leftovers(tmp_path) == []


def test_gzip_bomb_stops_near_the_cap(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    bomb = packer.compress(PNG)
    block = bytes(1 << 20)
    bomb += b"".join(packer.compress(block) for _ in range(64))  # 64 MiB of zeros
    bomb += packer.flush()
    pieces = [bomb[i : i + 4096] for i in range(0, len(bomb), 4096)]
    stream = Chunks(*pieces)
    twin.script.add(httpx.Response(200, stream=stream, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(sdk.DownloadError, match="cap"):
        twin().download(status, tmp_path, max_bytes=1 << 20)
    # 1 MiB of zeros is about 1 KiB of gzip: it stopped at the first chunks, not the end.
    assert stream.sent <= 2 < len(pieces)
    assert leftovers(tmp_path) == []


def test_gzip_encoded_image_is_inflated(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    twin.script.add(streamed(gzip.compress(IMAGE), **{"Content-Encoding": "gzip"}))
    assert twin().download(status, tmp_path).read_bytes() == IMAGE


def test_error_mid_body_leaves_nothing(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    twin.script.add(*(streamed(IMAGE[:500], fail=True) for _ in range(3)))
    with pytest.raises(sdk.APIConnectionError):
        twin(max_retries=2).download(status, tmp_path)
    assert len(twin.script.requests) == 3
    assert leftovers(tmp_path) == []


def test_error_mid_body_then_success(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    twin.script.add(streamed(IMAGE[:500], fail=True), streamed(IMAGE))
    path = twin().download(status, tmp_path)
    assert path.read_bytes() == IMAGE
    assert leftovers(tmp_path) == [path.name]


@pytest.mark.parametrize("code", [403, 404, 410])
def test_image_host_errors_are_download_errors(twin: Twin, tmp_path: Path, code: int) -> None:
    status = done_status(twin)
    twin.script.add(httpx.Response(code, text="expired"))
    with pytest.raises(sdk.DownloadError) as info:
        twin().download(status, tmp_path)
    assert info.value.status_code == code
    assert info.value.job_id == JOB_ID
    assert len(twin.script.requests) == 1
    assert leftovers(tmp_path) == []


def test_pre_read_body_is_accepted(twin: Twin, tmp_path: Path) -> None:
    status = done_status(twin)
    twin.script.add(lambda _: httpx.Response(200, content=IMAGE))
    assert twin().download(status, tmp_path).read_bytes() == IMAGE


def test_unfinished_job_cannot_be_downloaded(twin: Twin, tmp_path: Path) -> None:
    twin.script.add(polled("processing"))
    client = twin()
    status = client.get_job(JOB_ID)
    with pytest.raises(sdk.InvalidRequestError, match="image_url"):
        client.download(status, tmp_path)
    with pytest.raises(sdk.InvalidRequestError):
        client.download("file:///etc/passwd", tmp_path)


# -- the last step (fsync, rename, the folder's fsync): off the event loop -------------------

ASYNC_FLAVOURS = ["async", "async-aiohttp"]


class BlockingFsync:
    """Stands in for os.fsync: the call numbered `block` waits for `release` (at most 3 s).

    It records, for each call, the inode it was given and whether it ran on the main
    thread (the event loop's); `entered` is set when the blocking call starts.
    """

    def __init__(self, block: int) -> None:
        self.block = block
        self.calls: list[tuple[int, bool]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.released_in_time: bool | None = None
        self._real = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls.append(
            (os.fstat(fd).st_ino, threading.current_thread() is threading.main_thread())
        )
        if len(self.calls) == self.block:
            self.entered.set()
            # Never hangs: on a loop this call blocks, nobody can release it, and the
            # test fails on `released_in_time` instead.
            self.released_in_time = self.release.wait(3.0)
        self._real(fd)


async def _until(event: threading.Event) -> None:
    for _ in range(3000):
        if event.is_set():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the worker thread never got there")


def _async_client(flavour: str) -> tuple[Twin, sdk.JobStatus]:
    twin = make_twin(flavour)
    status = done_status(twin)
    twin.drivers.pop().close()
    return twin, status


def test_download_fsyncs_the_file_and_its_folder(
    twin: Twin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rename lives in the folder: a power loss must not undo a download reported done.
    fake = BlockingFsync(block=0)
    status = done_status(twin)
    twin.script.add(streamed(IMAGE))
    monkeypatch.setattr(os, "fsync", fake)
    path = twin().download(status, tmp_path / "out")
    inodes = [inode for inode, _ in fake.calls]
    assert inodes == [path.stat().st_ino, path.parent.stat().st_ino]
    if not twin.is_async:
        assert all(on_main for _, on_main in fake.calls)  # the sync twin: where it stands


@pytest.mark.parametrize("flavour", ASYNC_FLAVOURS)
def test_async_download_fsyncs_in_a_thread_while_the_loop_runs(
    flavour: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin, status = _async_client(flavour)
    twin.script.add(streamed(IMAGE))
    fake = BlockingFsync(block=1)
    monkeypatch.setattr(os, "fsync", fake)

    async def main() -> tuple[Path, int]:
        client = twin.new()
        ticks = 0
        try:
            download = asyncio.ensure_future(client.download(status, tmp_path))
            await _until(fake.entered)
            # The file's fsync is blocked: the loop still serves other tasks.
            while ticks < 5:
                await asyncio.sleep(0.001)
                ticks += 1
            assert not download.done()
            fake.release.set()
            return await download, ticks
        finally:
            fake.release.set()
            await client.aclose()

    path, ticks = asyncio.run(main())
    assert fake.released_in_time is True
    assert ticks == 5
    assert path.read_bytes() == IMAGE
    assert [on_main for _, on_main in fake.calls] == [False, False]  # file, then folder
    assert leftovers(tmp_path) == [path.name]


@pytest.mark.parametrize("flavour", ASYNC_FLAVOURS)
def test_async_download_cancelled_during_fsync_leaves_nothing(
    flavour: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin, status = _async_client(flavour)
    twin.script.add(streamed(IMAGE))
    fake = BlockingFsync(block=1)
    monkeypatch.setattr(os, "fsync", fake)
    seen: list[list[str]] = []

    async def main() -> None:
        client = twin.new()
        try:
            download = asyncio.ensure_future(client.download(status, tmp_path))
            await _until(fake.entered)
            download.cancel()
            await asyncio.sleep(0.01)
            download.cancel()  # a second cancellation does not cut the wait short
            await asyncio.sleep(0.01)
            # The thread still holds the temporary file: the task waits for it, and
            # nothing is removed under its feet.
            assert not download.done()
            seen.append(leftovers(tmp_path))
            fake.release.set()
            with pytest.raises(asyncio.CancelledError):
                await download
        finally:
            fake.release.set()
            await client.aclose()

    asyncio.run(main())
    assert fake.released_in_time is True
    assert len(seen[0]) == 1
    assert seen[0][0].endswith(".part")
    # Cancelled before the rename: no image, no temporary file, and no folder fsync.
    assert leftovers(tmp_path) == []
    assert len(fake.calls) == 1


@pytest.mark.parametrize("flavour", ASYNC_FLAVOURS)
def test_async_download_cancelled_after_the_rename_keeps_the_whole_file(
    flavour: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin, status = _async_client(flavour)
    twin.script.add(streamed(IMAGE))
    fake = BlockingFsync(block=2)  # the folder's fsync, after the rename
    monkeypatch.setattr(os, "fsync", fake)

    async def main() -> None:
        client = twin.new()
        try:
            download = asyncio.ensure_future(client.download(status, tmp_path))
            await _until(fake.entered)
            download.cancel()
            await asyncio.sleep(0.01)
            assert not download.done()
            fake.release.set()
            with pytest.raises(asyncio.CancelledError):
                await download
        finally:
            fake.release.set()
            await client.aclose()

    asyncio.run(main())
    assert fake.released_in_time is True
    # The rename had happened: the complete image is in place, never a part of it.
    assert leftovers(tmp_path) == [f"{JOB_ID}.png"]
    assert (tmp_path / f"{JOB_ID}.png").read_bytes() == IMAGE


@pytest.mark.parametrize("flavour", ASYNC_FLAVOURS)
def test_async_download_full_disk_at_fsync_in_the_thread(
    flavour: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin, status = _async_client(flavour)
    twin.script.add(streamed(IMAGE))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    driver = Driver(twin.new())
    with pytest.raises(sdk.DownloadError, match="No space left") as info:
        driver.download(status, tmp_path)
    driver.close()
    assert info.value.job_id == JOB_ID
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("flavour", ASYNC_FLAVOURS)
def test_async_download_deadline_during_fsync_leaves_nothing(
    flavour: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole call's deadline (real loop time here: 0.3 s) passes while the thread
    # fsyncs: the call times out once the thread has ended, and no file is left.
    twin, status = _async_client(flavour)
    twin.script.add(streamed(IMAGE))
    fake = BlockingFsync(block=1)
    monkeypatch.setattr(os, "fsync", fake)

    async def main() -> None:
        client = twin.new()
        try:
            download = asyncio.ensure_future(client.download(status, tmp_path, timeout=0.3))
            await _until(fake.entered)
            await asyncio.sleep(0.5)
            assert not download.done()  # past its deadline, still waiting for the thread
            fake.release.set()
            with pytest.raises(sdk.APITimeoutError):
                await download
        finally:
            fake.release.set()
            await client.aclose()

    asyncio.run(main())
    assert fake.released_in_time is True
    assert leftovers(tmp_path) == []
    assert len(twin.script.requests) == 1
