"""Image inputs: what counts as an image, the size limit, and base64 in and out.

A 10 MiB source image becomes a 14 MB JSON string. Building that string in memory
costs four times the file's size and several copies; instead an image is checked and
read in chunks (`load_image`), and `_requests.ImageBody` streams the request body with
an exact Content-Length, so memory stays at a few chunks whatever the image's size.
No httpx here: the command line's checks import this without the HTTP stack.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Final

from sharkapi_spec import IMAGE_MAX_BYTES

from ._exceptions import InvalidRequestError

try:  # SIMD base64 when the `speedups` extra is installed; same output as the stdlib.
    import pybase64 as _fast_base64
except ImportError:  # pragma: no cover - exercised where pybase64 is absent
    _fast_base64 = None  # type: ignore[assignment]

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_BYTES",
    "ImageSource",
    "decode_image",
    "encode_image",
    "image_extension",
    "image_kind",
]

#: The vendor's "max 10MB", read as the decoded file (the spec's
#: x-sharkapi-max-decoded-bytes; see openapi.yaml for why that reading).
MAX_IMAGE_BYTES: Final = IMAGE_MAX_BYTES

ImageSource = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO
"""What `image=` accepts: the bytes, a path, or a binary file object."""

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# Read the source in whole multiples of 3 bytes so each chunk encodes to base64 with
# no padding in the middle of the stream.
_CHUNK = 3 * 256 * 1024


def _b64encode(data: bytes | memoryview) -> bytes:
    if _fast_base64 is not None:
        return _fast_base64.b64encode(data)
    return base64.b64encode(data)


def image_kind(head: bytes) -> str | None:
    """``"png"`` or ``"jpeg"`` by the file's magic bytes, else None."""
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    return None


#: The extension each image kind is saved with (``"png"``, ``"jpeg"``: by magic bytes).
IMAGE_EXTENSIONS: Final[Mapping[str, str]] = MappingProxyType({"png": ".png", "jpeg": ".jpg"})


def image_extension(data: bytes) -> str | None:
    """The extension `download` gives an image that starts with these bytes.

    Args:
        data: The image's first bytes (8 are enough).

    Returns:
        ``".png"`` or ``".jpg"``, or None when the bytes are neither PNG nor JPEG.
    """
    kind = image_kind(data)
    return None if kind is None else IMAGE_EXTENSIONS[kind]


class _Loaded:
    """A validated image source that can be read from the start any number of times."""

    __slots__ = ("_data", "_path", "size")

    def __init__(self, data: bytes | memoryview | None, path: Path | None, size: int) -> None:
        self._data = data
        self._path = path
        self.size = size

    def chunks(self) -> Iterator[bytes | memoryview]:
        if self._data is not None:
            view = memoryview(self._data)
            for start in range(0, self.size, _CHUNK):
                yield view[start : start + _CHUNK]
            return
        assert self._path is not None
        sent = 0
        with self._path.open("rb") as file:
            while chunk := file.read(_CHUNK):
                sent += len(chunk)
                yield chunk
        if sent != self.size:  # the file changed after it was checked
            raise InvalidRequestError("image", f"the file changed while it was sent: {self._path}")


def _read_head(path: Path) -> tuple[bytes, int | None]:
    """The first bytes and the size of a regular file; size None for anything else.

    Opened without blocking: opening a FIFO for reading would otherwise wait forever
    for a writer, and a device such as /dev/zero never ends.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return b"", None
        return os.pread(fd, 8, 0), info.st_size
    finally:
        os.close(fd)


def _read_bounded(source: Any) -> bytes:
    """At most `MAX_IMAGE_BYTES` + 1 bytes of a file object: enough to refuse a big one.

    A file object over /dev/zero or a pipe never ends; reading it whole would fill memory.
    """
    parts: list[bytes] = []
    size = 0
    try:
        while size <= MAX_IMAGE_BYTES:
            chunk = source.read(MAX_IMAGE_BYTES + 1 - size)
            if not chunk:
                break
            if not isinstance(chunk, bytes | bytearray):
                raise InvalidRequestError("image", "the file object must be opened in binary mode")
            parts.append(bytes(chunk))
            size += len(chunk)
    except (OSError, ValueError) as exc:
        if isinstance(exc, InvalidRequestError):
            raise
        raise InvalidRequestError("image", f"cannot read the file object: {exc}") from exc
    return parts[0] if len(parts) == 1 else b"".join(parts)


def load_image(source: object) -> _Loaded:
    """Check an image source (type, existence, size, PNG/JPEG magic) without sending anything.

    Raises:
        InvalidRequestError: Naming the problem and the limit.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source) if isinstance(source, bytearray) else source
        if isinstance(data, memoryview) and (data.format != "B" or not data.c_contiguous):
            # Chunks slice the view by item: they must be bytes, laid out in order.
            data = data.tobytes()
        head = bytes(memoryview(data)[:8])
        size = memoryview(data).nbytes
        loaded = _Loaded(data, None, size)
    elif isinstance(source, str | os.PathLike):
        # str(source) could be a whole base64 document passed by mistake: keep it short.
        shown = str(source)[:80]
        try:
            path = Path(source)
            head, regular_size = _read_head(path)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidRequestError(
                "image", f"cannot read file {shown!r}: {exc.__class__.__name__}"
            ) from exc
        if regular_size is None:
            raise InvalidRequestError(
                "image",
                f"cannot read {shown!r}: not a regular file (a directory, FIFO, device or socket)",
            )
        size = regular_size
        loaded = _Loaded(None, path, size)
    elif isinstance(source, io.IOBase) or hasattr(source, "read"):
        data = _read_bounded(source)
        head, size = data[:8], len(data)
        loaded = _Loaded(data, None, size)
    else:
        raise InvalidRequestError(
            "image",
            f"expected bytes, a path or a binary file object, got {type(source).__name__}",
        )
    if size == 0:
        raise InvalidRequestError("image", "the image is empty")
    if size > MAX_IMAGE_BYTES:
        raise InvalidRequestError(
            "image",
            f"at most {MAX_IMAGE_BYTES} bytes ({MAX_IMAGE_BYTES / 2**20:g} MiB), got {size} bytes",
        )
    if image_kind(head) is None:
        raise InvalidRequestError("image", "must be a PNG or JPEG file (checked by magic bytes)")
    return loaded


def encode_image(source: ImageSource) -> str:
    """Check an image and return it as base64 text, as the API's ``image`` field takes it.

    Args:
        source: The image's bytes, a path to it, or a binary file object.

    Raises:
        InvalidRequestError: The source is unreadable, empty, over `MAX_IMAGE_BYTES`, or
            not PNG/JPEG.
    """
    loaded = load_image(source)
    return b"".join(_b64encode(chunk) for chunk in loaded.chunks()).decode("ascii")


def decode_image(b64: str | bytes) -> bytes:
    """Decode base64 image text strictly (standard alphabet, padded, no line breaks).

    Raises:
        InvalidRequestError: The text is not valid base64.
    """
    if not isinstance(b64, str | bytes):
        raise InvalidRequestError(
            "image", f"base64 text must be str or bytes, got {type(b64).__name__}"
        )
    try:
        raw = b64.encode("ascii") if isinstance(b64, str) else b64
        if _fast_base64 is not None:
            return _fast_base64.b64decode(raw, validate=True)
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError("image", f"not valid base64: {exc}") from exc
