"""Writing a downloaded image to disk safely. File writes only; the network is the caller's.

The image goes to a temporary file beside its destination and is renamed into place
only once it is complete and its magic bytes say PNG or JPEG, so a failure never
leaves a partial file. The size cap counts the bytes actually decoded, whatever
Content-Length claims, and compressed transfer encodings are inflated here with a
bound, so a gzip bomb stops near the cap too.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

from ._exceptions import DownloadError
from ._images import image_kind

__all__ = ["DEFAULT_MAX_DOWNLOAD_BYTES", "DownloadSink", "destination_for"]

#: A 2048×2048 RGBA PNG is at most about 16 MiB; anything far larger is not an image.
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
_EXTENSIONS = {"png": ".png", "jpeg": ".jpg"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def destination_for(
    dest: str | os.PathLike[str], *, job_id: str | None, url: str
) -> tuple[Path, bool]:
    """Where the image goes: ``(path, is_directory)``.

    A destination that is an existing directory, or ends with a path separator, is a
    directory: the file name is made from the job id (or a hash of the URL), never
    from anything the server says. Anything else is the file's own path.
    """
    text = os.fspath(dest)
    path = Path(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        return path, True
    return path, False


def _stem(job_id: str | None, url: str) -> str:
    if job_id:
        return _UNSAFE.sub("_", job_id)[:128] or "image"
    return "image-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


class DownloadSink:
    """Receives one download's raw bytes and turns them into a checked file, or nothing."""

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
        self.received = 0
        self._head = b""
        self._kind: str | None = None
        self._file: IO[bytes] | None = None
        self._temp: Path | None = None
        self._inflate: zlib._Decompress | None = None

    def error(self, message: str, status_code: int | None = None) -> DownloadError:
        """A `DownloadError` about this download."""
        return DownloadError(
            f"download of {self.url[:200]}: {message}", status_code=status_code, job_id=self.job_id
        )

    def start(self, response: httpx.Response) -> bool:
        """Check the headers and open the temporary file.

        Returns:
            True when the caller must now stream the raw body into `write_raw`; False
            when the transport had already read the body (mock and caching transports
            do), which is then written here, as httpx decoded it.
        """
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise self.error(f"Content-Length {declared} is over the {self.max_bytes}-byte cap")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._inflate = zlib.decompressobj(wbits=47)  # 47: gzip or zlib, auto-detected
        elif encoding not in ("", "identity"):
            raise self.error(f"unsupported Content-Encoding {encoding!r}")
        folder = self.path if self.is_directory else self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=".sharkapi-", suffix=".part", dir=folder)
        except (OSError, ValueError) as exc:  # ValueError: a path the OS cannot encode
            raise self.error(
                f"cannot write to {folder}: {getattr(exc, 'strerror', None) or exc}"
            ) from exc
        self._temp = Path(name)
        self._file = os.fdopen(handle, "wb")
        if not response.is_stream_consumed:
            return True
        # iter_raw() would raise StreamConsumed; the decoded content is all there is.
        self._inflate = None
        self._write(response.content)
        return False

    def write_raw(self, chunk: bytes) -> None:
        """Take one chunk as it came off the wire (still transfer-encoded)."""
        if self._inflate is None:
            self._write(chunk)
            return
        data = chunk
        while data:
            # max_length bounds what one compressed chunk can expand to in memory.
            room = self.max_bytes - self.received + 1
            out = self._inflate.decompress(data, max(1, min(room, 1 << 20)))
            self._write(out)
            data = self._inflate.unconsumed_tail

    def _write(self, data: bytes) -> None:
        if not data:
            return
        self.received += len(data)
        if self.received > self.max_bytes:
            raise self.error(f"over the {self.max_bytes}-byte cap")
        if self.clock() > self.deadline:
            raise self.error("took longer than its timeout")
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

    def finish(self) -> Path:
        """Close the file, check it, and move it into place; returns the final path."""
        if self._inflate is not None:
            self._write(self._inflate.flush())
        if self._kind is None:
            raise self.error("the file is not a PNG or JPEG (too short)")
        assert self._file is not None
        assert self._temp is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        final = (
            self.path / (_stem(self.job_id, self.url) + _EXTENSIONS[self._kind])
            if self.is_directory
            else self.path
        )
        try:
            os.replace(self._temp, final)
        except OSError as exc:
            raise self.error(f"cannot write {final}: {exc.strerror or exc}") from exc
        self._temp = None
        return final

    def discard(self) -> None:
        """Remove the temporary file if the download did not finish; safe to call twice."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None
