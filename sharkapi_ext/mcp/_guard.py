"""The local-file guard: `image_path` reads only inside the directories the user allowed.

Checking a path and then opening it by name is a race: between the two, a symlink can
be swapped in (over the file, or over a directory on the way), and the open then reads
a file outside the allowed directories. So the guard opens first and trusts only what
it opened: from the allowed directory's descriptor it opens one component at a time
with ``O_NOFOLLOW`` (``openat``), so no symlink is followed while opening; the check by
name beforehand only decides which components to open and what to say when refused.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from sharkapi_spec import IMAGE_MAX_BYTES

from sharkapi_ext import InvalidRequestError

__all__ = ["PathGuard", "PathNotAllowedError"]

#: Times a path that changed between the check and the open is checked and opened again
#: before the call is refused; a path the user is not changing opens on the first try.
OPEN_ATTEMPTS: Final = 3

_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
# Opening a FIFO swapped in for the file would otherwise wait forever for a writer.
_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_BINARY: Final = getattr(os, "O_BINARY", 0)
#: openat with O_NOFOLLOW: every POSIX system. Elsewhere (Windows) the opened file is
#: compared with the checked path instead (`_open_and_compare`).
_OPENAT: Final = bool(_NOFOLLOW and _DIRECTORY) and os.open in os.supports_dir_fd


class PathNotAllowedError(InvalidRequestError):
    """`image_path` resolves outside every allowed directory; nothing was read or sent."""


class _Changed(Exception):
    """The path changed between its check and its open (a component became a symlink)."""


class PathGuard:
    """Resolves a path the model gave and reads it only if it lies in an allowed directory.

    Paths are resolved (symlinks followed, ``..`` removed) before the check, so a link
    inside an allowed directory that points outside it is refused, like the outside
    path itself. The file is then opened one component at a time from the allowed
    directory, following no symlink, so a link swapped in after the check cannot lead
    the read outside: it makes the open fail, and the path is checked again.

    With no allowed directory at all, every path is refused.

    Attributes:
        allowed: The allowed directories, resolved.

    Raises:
        FileNotFoundError: An allowed directory does not exist.
        NotADirectoryError: An allowed path is not a directory.
    """

    def __init__(self, allowed: Iterable[str | os.PathLike[str]]) -> None:
        dirs = tuple(Path(d).expanduser().resolve(strict=True) for d in allowed)
        for d in dirs:
            if not d.is_dir():
                raise NotADirectoryError(f"not a directory: {d}")
        self.allowed: tuple[Path, ...] = dirs

    def resolve(self, path: str) -> Path:
        """The resolved path of an allowed, existing regular file, checked by name.

        This is the check only: a path can change after it. `read` opens safely.

        Args:
            path: The path as the model wrote it; relative to the first allowed directory.

        Returns:
            The resolved path.

        Raises:
            PathNotAllowedError: It resolves outside the allowed directories.
            InvalidRequestError: It does not exist, is not a regular file, or is not a
                path at all (a NUL character, text the file system cannot encode).
        """
        if not self.allowed:
            raise self._refusal(path)
        try:
            os.fsencode(path)
        except UnicodeError:
            raise InvalidRequestError(
                "image_path", f"{path!r} cannot be a file name (text the file system cannot encode)"
            ) from None
        if "\0" in path:
            raise InvalidRequestError(
                "image_path", f"{path!r} contains a NUL character, which no file name can"
            )
        given = Path(path).expanduser()
        if not given.is_absolute():
            given = self.allowed[0] / given
        try:
            resolved = given.resolve(strict=True)
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
            # Say nothing about whether it exists outside the allowed directories.
            if not self._inside(Path(os.path.normpath(given))):
                raise self._refusal(path) from None
            raise InvalidRequestError("image_path", f"cannot read {path!r}: no such file") from exc
        if not self._inside(resolved):
            raise self._refusal(path)
        if not resolved.is_file():
            raise InvalidRequestError("image_path", f"{path!r} is not a regular file")
        return resolved

    def read(self, path: str) -> bytes:
        """Read an allowed image file, refusing it before reading when it is too large.

        The bytes returned are always those of a file inside the allowed directories,
        whatever is renamed or linked while this runs.

        Args:
            path: The path as the model wrote it.

        Returns:
            The file's bytes.

        Raises:
            PathNotAllowedError: It resolves outside the allowed directories.
            InvalidRequestError: Missing, not a regular file, over the API's size limit,
                or changing (links swapped) on every attempt to open it.
        """
        for _ in range(OPEN_ATTEMPTS):
            resolved = self.resolve(path)
            try:
                fd = self._open(resolved)
            except _Changed:
                continue
            except OSError as exc:
                raise InvalidRequestError(
                    "image_path", f"cannot read {path!r}: {exc.strerror or type(exc).__name__}"
                ) from exc
            try:
                return self._read_open(fd, path)
            finally:
                os.close(fd)
        raise InvalidRequestError(
            "image_path",
            f"{path!r} changed while it was being opened, {OPEN_ATTEMPTS} times (a link was "
            "swapped in); nothing was read or sent",
        )

    def _open(self, resolved: Path) -> int:
        """A read-only descriptor of `resolved`, opened without following any link.

        Raises:
            _Changed: A component is no longer what the check saw.
            OSError: Any other failure to open.
        """
        if not _OPENAT:
            return self._open_and_compare(resolved)
        # The outermost allowed directory holding the file: no allowed directory lies
        # above it, so nothing inside the allowed directories can replace its path.
        base = min((d for d in self.allowed if resolved.is_relative_to(d)), key=_depth)
        parts = resolved.relative_to(base).parts
        if not parts:  # the allowed directory itself, which was a file at the check
            raise _Changed
        *dirs, name = parts
        fd = os.open(base, os.O_RDONLY | _DIRECTORY)
        try:
            for part in dirs:
                parent = fd
                fd = _open_component(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, parent)
                os.close(parent)
            parent = fd
            fd = _open_component(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY, parent)
            os.close(parent)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_and_compare(self, resolved: Path) -> int:
        """Open by name, then check that what was opened is what a fresh check names.

        For platforms without openat and O_NOFOLLOW (Windows): the opened file must be
        the very file (same device and inode) that the path names when checked again,
        and that check must still land inside.
        """
        fd = os.open(resolved, os.O_RDONLY | _NONBLOCK | _BINARY)
        try:
            try:
                again = resolved.resolve(strict=True)
                same = os.path.samestat(os.fstat(fd), os.stat(again, follow_symlinks=False))
            except (OSError, RuntimeError):
                raise _Changed from None
            if not same or not self._inside(again):
                raise _Changed
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _read_open(fd: int, path: str) -> bytes:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or directory swapped in after the check
            raise InvalidRequestError("image_path", f"{path!r} is not a regular file")
        if info.st_size > IMAGE_MAX_BYTES:
            raise _too_large(path)
        parts: list[bytes] = []
        size = 0
        try:
            while size <= IMAGE_MAX_BYTES:
                chunk = os.read(fd, IMAGE_MAX_BYTES + 1 - size)
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise InvalidRequestError(
                "image_path", f"cannot read {path!r}: {exc.strerror or type(exc).__name__}"
            ) from exc
        if size > IMAGE_MAX_BYTES:  # it grew after the fstat
            raise _too_large(path)
        return b"".join(parts)

    def _inside(self, path: Path) -> bool:
        return any(path.is_relative_to(d) for d in self.allowed)

    def _refusal(self, path: str) -> PathNotAllowedError:
        dirs = ", ".join(str(d) for d in self.allowed) or "none: start the server with --allow-dir"
        return PathNotAllowedError(
            "image_path",
            f"{path!r} is outside the allowed directories ({dirs}); nothing was read or sent",
        )


def _depth(path: Path) -> int:
    return len(path.parts)


def _too_large(path: str) -> InvalidRequestError:
    return InvalidRequestError(
        "image_path", f"{path!r} is larger than the limit of {IMAGE_MAX_BYTES} bytes"
    )


def _open_component(name: str, flags: int, parent: int) -> int:
    """Open one name in the directory `parent`; a link or vanished name means it changed."""
    try:
        return os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        # ELOOP: a link where O_NOFOLLOW was asked; ENOTDIR: a link or file where a
        # directory was; ENOENT: renamed away. Each time the check saw something else.
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT, errno.EMLINK):
            raise _Changed from exc
        raise
