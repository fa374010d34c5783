"""Writing a downloaded image to disk safely. File writes only; the network is the caller's.

The image goes to a temporary file beside its destination and is renamed into place
only once it is complete and its magic bytes say PNG or JPEG, so a failure never
leaves a partial file: not on a bad answer, not on a full disk. `DownloadSink` is the
file sink of the one body reader (`_body.BodyReader`): the size cap counts the bytes
actually decoded, whatever Content-Length claims, and compressed transfer encodings are
inflated with a bound (`_decoding`), so a gzip bomb stops near the cap too; the deadline
is checked on every raw chunk, even one that inflates to nothing.

The file's extension follows its content: a JPEG is never saved under a ``.png`` name
(`image_extension`). Its mode follows the process's umask, like any file the caller
would create. Messages show an image URL without its query string, which may be a
signature.

The end of a download is the one step that may block for many milliseconds: the file's
``fsync``, its rename into place and the folder's ``fsync`` (`DownloadSink.result`). The
sync client runs it where it stands; the async client runs that same step in a worker
thread (`finish_off_loop`), so the event loop keeps serving other requests meanwhile. A
cancellation that arrives while the thread runs waits for it (a thread cannot be
interrupted) and is then raised: a cancellation before the rename leaves no file, one
after it leaves the complete file in place, and the temporary file is never removed
under the thread's feet.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import httpx

from ._decoding import UnsupportedEncoding
from ._exceptions import DownloadError
from ._images import IMAGE_EXTENSIONS, image_extension, image_kind

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "IMAGE_EXTENSIONS",
    "DownloadSink",
    "destination_for",
    "finish_off_loop",
    "image_extension",
    "shown_url",
]

T = TypeVar("T")

#: A 2048×2048 RGBA PNG is at most about 16 MiB; anything far larger is not an image.
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
# Suffixes that name an image kind: one that disagrees with the content is replaced.
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# The longest file name most file systems take, in bytes (the temporary name is shorter).
_NAME_MAX = 255


def shown_url(url: str | httpx.URL) -> str:
    """An image URL for a message: no query string (it may be a signature), no user info."""
    try:
        parsed = httpx.URL(str(url))
        return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))[:200]
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(unreadable URL)"


def destination_for(
    dest: str | os.PathLike[str], *, job_id: str | None, url: str
) -> tuple[Path, bool]:
    """Where the image goes: ``(path, is_directory)``.

    A destination that is an existing directory, or ends with a path separator, is a
    directory: the file name is made from the job id (or a hash of the URL), never
    from anything the server says. Anything else is the file's own path.

    Raises:
        DownloadError: A path the file system cannot take (a name over 255 bytes).
    """
    text = os.fspath(dest)
    path = Path(text)
    too_long = [part for part in path.parts if len(os.fsencode(part)) > _NAME_MAX]
    if too_long:
        raise DownloadError(
            f"cannot write to {shown_path(path)}: a file or folder name is longer than "
            f"{_NAME_MAX} bytes ({len(os.fsencode(too_long[0]))} bytes)"
        )
    try:
        if path.is_dir() or text.endswith(("/", os.sep)):
            return path, True
    except OSError as exc:  # ENAMETOOLONG for the whole path, EACCES, ...
        raise DownloadError(f"cannot write to {shown_path(path)}: {exc.strerror or exc}") from exc
    return path, False


def shown_path(path: Path) -> str:
    """A path for a message, cut to a readable length."""
    text = str(path)
    return text if len(text) <= 200 else text[:100] + "..." + text[-60:]


def _stem(job_id: str | None, url: str) -> str:
    if job_id:
        return _UNSAFE.sub("_", job_id)[:128] or "image"
    return "image-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


class DownloadSink:
    """The file sink of a `BodyReader` (`_body`): a download, as a checked file or nothing.

    The reader decodes the raw body, counts it against ``max_bytes`` and checks the
    deadline on every raw chunk; this sink refuses a declared size over the cap, writes
    to a temporary file beside the destination (checking the deadline again before each
    write, which a slow disk or a large inflated piece can make long), checks the magic
    bytes, and renames the file into place once the body is complete.
    """

    # The download asks for no encoding: one it cannot undo is refused, even when the
    # transport had already read the body.
    checks_read_encoding = True

    def __init__(
        self,
        dest: str | os.PathLike[str],
        *,
        job_id: str | None,
        url: str,
        max_bytes: int,
        deadline: float,
        clock: Callable[[], float],
    ) -> None:
        self.path, self.is_directory = destination_for(dest, job_id=job_id, url=url)
        self.job_id = job_id
        self.url = url
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.clock = clock
        self._head = b""
        self._kind: str | None = None
        self._file: IO[bytes] | None = None
        self._temp: Path | None = None
        # Set by the event loop's thread when the download is cancelled while `result`
        # runs in a worker thread (`finish_off_loop`): the file is not renamed into place.
        self._abandoned = False

    @property
    def limit(self) -> int:
        """The cap the reader counts the decoded bytes against: ``max_bytes``."""
        return self.max_bytes

    def error(self, message: str, status_code: int | None = None) -> DownloadError:
        """A `DownloadError` about this download."""
        return DownloadError(
            f"download of {shown_url(self.url)}: {message}",
            status_code=status_code,
            job_id=self.job_id,
        )

    def timed_out(self) -> DownloadError:
        """The download is still arriving at its deadline."""
        return self.error("took longer than its timeout")

    def undecodable(self, exc: zlib.error | UnsupportedEncoding) -> DownloadError:
        """The body does not decode, or has an encoding this client cannot undo."""
        if isinstance(exc, UnsupportedEncoding):
            return self.error(str(exc))
        return self.error(f"the compressed body does not decode ({exc})")

    def open(self, response: httpx.Response) -> None:
        """Check the declared size and open the temporary file."""
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise self.error(f"Content-Length {declared} is over the {self.max_bytes}-byte cap")
        folder = self.path if self.is_directory else self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._temp, handle = _create_temp(folder)
        except (OSError, ValueError) as exc:  # ValueError: a path the OS cannot encode
            raise self.error(
                f"cannot write to {shown_path(folder)}: {getattr(exc, 'strerror', None) or exc}"
            ) from exc
        self._file = os.fdopen(handle, "wb")

    def over_cap(self) -> None:
        """The body is over ``max_bytes``: the download fails."""
        raise self.error(f"over the {self.max_bytes}-byte cap")

    def write(self, data: bytes) -> None:
        """Write decoded bytes, checking the magic bytes once the first 8 are in."""
        if self.clock() > self.deadline:
            raise self.timed_out()
        if self._kind is None:
            self._head += data[: 8 - len(self._head)]
            if len(self._head) >= 8:
                self._kind = image_kind(self._head)
                if self._kind is None:
                    raise self.error("the file is not a PNG or JPEG (magic bytes)")
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as exc:  # a full disk must not escape as a bare OSError
            raise self.error(f"cannot write the file: {exc.strerror or exc}") from exc

    def result(self, response: httpx.Response) -> Path:
        """Close the file, check it, and move it into place; returns the final path.

        This is the download's blocking step (``fsync``, rename, the folder's ``fsync``):
        the async client runs it in a worker thread (`finish_off_loop`).
        """
        if self._kind is None:
            raise self.error("the file is not a PNG or JPEG (too short)")
        assert self._file is not None
        assert self._temp is not None
        final = self._final_path(self._kind)
        file, self._file = self._file, None
        try:
            # A full disk often shows only here, when the buffer is flushed.
            with file:
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise self.error(f"cannot write the file: {exc.strerror or exc}") from exc
        if self._abandoned:
            # Cancelled during the fsync: the file stays temporary, and `close` removes it.
            raise self.error("cancelled before the file was moved into place")
        try:
            os.replace(self._temp, final)
        except OSError as exc:
            raise self.error(f"cannot write {shown_path(final)}: {exc.strerror or exc}") from exc
        self._temp = None
        # The rename lives in the folder: without this a power loss may undo it, though
        # the caller (a batch journal, say) has already recorded the image as saved.
        _fsync_dir(final.parent)
        return final

    def abandon(self) -> None:
        """The download was cancelled while `result` runs in a thread: do not rename.

        Called from the event loop's thread. A rename already begun completes (it is
        atomic); one not begun does not happen, and `close` removes the temporary file.
        """
        self._abandoned = True

    def _final_path(self, kind: str) -> Path:
        extension = IMAGE_EXTENSIONS[kind]
        if self.is_directory:
            return self.path / (_stem(self.job_id, self.url) + extension)
        suffix = self.path.suffix.lower()
        if (
            suffix in _IMAGE_SUFFIXES
            and suffix != extension
            and not (kind == "jpeg" and suffix == ".jpeg")
        ):
            # "out.png" for a JPEG would mislabel it: save it as "out.jpg".
            return self.path.with_suffix(extension)
        return self.path

    def close(self) -> None:
        """Remove the temporary file if the download did not finish; safe to call twice.

        Never raises: closing may flush buffered bytes to a full disk, and that error
        must neither hide the one being reported nor leave the ``.part`` file behind.
        """
        file, self._file = self._file, None
        temp, self._temp = self._temp, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()  # closes the descriptor even when its flush fails
        if temp is not None:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)


async def finish_off_loop(finish: Callable[[], T], sink: DownloadSink) -> T:
    """Run a download's last step (`DownloadSink.result`, through its reader) in a thread.

    The event loop keeps serving other tasks during the ``fsync`` and the rename. A
    cancellation while the thread runs is held until the thread ends, then raised; the
    caller's cleanup (`DownloadSink.close`) thus never runs alongside the thread.

    Args:
        finish: The reader's ``finish``, which ends in the sink's ``result``.
        sink: The file sink, told to `abandon` the rename on a cancellation.

    Returns:
        What ``finish`` returns: the final path.

    Raises:
        asyncio.CancelledError: The task was cancelled meanwhile (after the thread ended).
    """
    future = asyncio.get_running_loop().run_in_executor(None, finish)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        sink.abandon()
        # A thread cannot be stopped: wait for its fsync or rename to end, however many
        # cancellations come meanwhile, so the temporary file is removed after it.
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait((future,))
        if not future.cancelled():
            future.exception()  # the cancellation wins; the thread's error is not news
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # Windows, where a folder cannot be opened (nor needs this)
        return
    try:
        os.fsync(handle)
    except OSError:  # some file systems refuse an fsync of a folder; the rename stands
        pass
    finally:
        os.close(handle)


def _create_temp(folder: Path) -> tuple[Path, int]:
    """A new temporary file in `folder`, created with the mode the umask allows.

    `tempfile.mkstemp` makes 0600 files, which a web server serving the images cannot
    read; the final file must get the mode any file the caller creates would get.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = folder / f".sharkapi-{secrets.token_hex(8)}.part"
        try:
            return path, os.open(path, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")
