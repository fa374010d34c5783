"""The local-file guard: `image_path` reads only inside the directories the user allowed."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sharkapi_spec import IMAGE_MAX_BYTES

from sharkapi_ext import InvalidRequestError

__all__ = ["PathGuard", "PathNotAllowedError"]


class PathNotAllowedError(InvalidRequestError):
    """`image_path` resolves outside every allowed directory; nothing was read or sent."""


class PathGuard:
    """Resolves a path the model gave and reads it only if it lies in an allowed directory.

    Paths are resolved (symlinks followed, ``..`` removed) before the check, so a link
    inside an allowed directory that points outside it is refused, like the outside
    path itself. The file is then opened by its resolved path.

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
        """The resolved path of an allowed, existing regular file.

        Args:
            path: The path as the model wrote it; relative to the first allowed directory.

        Returns:
            The resolved path.

        Raises:
            PathNotAllowedError: It resolves outside the allowed directories.
            InvalidRequestError: It does not exist or is not a regular file.
        """
        if not self.allowed:
            raise self._refusal(path)
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

        Args:
            path: The path as the model wrote it.

        Returns:
            The file's bytes.

        Raises:
            PathNotAllowedError: It resolves outside the allowed directories.
            InvalidRequestError: Missing, not a regular file, or over the API's size limit.
        """
        resolved = self.resolve(path)
        try:
            with resolved.open("rb") as file:
                data = file.read(IMAGE_MAX_BYTES + 1)
        except OSError as exc:
            raise InvalidRequestError(
                "image_path", f"cannot read {path!r}: {exc.strerror or type(exc).__name__}"
            ) from exc
        if len(data) > IMAGE_MAX_BYTES:
            raise InvalidRequestError(
                "image_path", f"{path!r} is larger than the limit of {IMAGE_MAX_BYTES} bytes"
            )
        return data

    def _inside(self, path: Path) -> bool:
        return any(path.is_relative_to(d) for d in self.allowed)

    def _refusal(self, path: str) -> PathNotAllowedError:
        dirs = ", ".join(str(d) for d in self.allowed) or "none: start the server with --allow-dir"
        return PathNotAllowedError(
            "image_path",
            f"{path!r} is outside the allowed directories ({dirs}); nothing was read or sent",
        )
