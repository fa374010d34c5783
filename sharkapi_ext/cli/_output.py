"""Output: where the image goes, and the one JSON object `--json` prints.

A destination is checked before anything is submitted, so a bad `-o` costs nothing.

The overwrite policy: an image is written to the file named by `-o` only if that file
does not exist yet, unless `--overwrite` is given. The client names the file after its
content (`-o shark.png` receiving a JPEG is saved as `shark.jpg`), so every name the image
may take must be free. A directory destination (an existing
directory, or a path ending in `/`) receives `<job_id>.png` (or `.jpg`): that name is the
job's own, so fetching the same job again replaces it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from sharkapi_ext import IMAGE_EXTENSIONS

__all__ = ["check_destination", "check_directory", "emit_json", "is_interactive"]

_HINT = "-o/--output"
#: The longest file name most file systems accept, in bytes.
_MAX_NAME_BYTES = 255


def _fail(message: str, hint: str) -> click.BadParameter:
    return click.BadParameter(message, param_hint=hint)


def check_directory(folder: Path, hint: str = _HINT) -> None:
    """Check that `folder` is, or can be created as, a directory this process can write to.

    Args:
        folder: The directory the image (or batch output) goes to.
        hint: The option named in the error.

    Raises:
        click.BadParameter: A part of the path is a file, or the nearest existing
            directory is not writable.
    """
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            anchor = candidate
            break
    else:  # pragma: no cover - the root or "." always exists
        anchor = Path(".")
    if not anchor.is_dir():
        raise _fail(f"{str(anchor)!r} is a file, not a directory", hint)
    if not os.access(anchor, os.W_OK | os.X_OK):
        shown = str(anchor.resolve())
        what = "write to" if anchor == folder else f"create {str(folder)!r} in"
        raise _fail(f"cannot {what} {shown!r}: permission denied", hint)


def check_destination(output: str | None, *, overwrite: bool) -> None:
    """Refuse, before the job is submitted, a destination the image could not be saved to.

    Args:
        output: The `-o` value; None for the current directory.
        overwrite: Whether an existing file may be replaced.

    Raises:
        click.BadParameter: The name is unusable, the file exists (without
            ``overwrite``), or the directory cannot be created or written.
    """
    try:
        _check_destination(output, overwrite=overwrite)
    except OSError as exc:  # e.g. a name too long for the file system
        raise _fail(f"{output!r}: {exc.strerror or exc}", _HINT) from None


def _check_destination(output: str | None, *, overwrite: bool) -> None:
    """Refuse, before the job is submitted, a destination the image could not be saved to.

    Args:
        output: The `-o` value; None for the current directory.
        overwrite: Whether an existing file may be replaced.

    Raises:
        click.BadParameter: The name is unusable, the file exists (without
            ``overwrite``), or the directory cannot be created or written.
    """
    text = output if output is not None else "."
    if not text or "\0" in text:
        raise _fail("not a usable path", _HINT)
    path = Path(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        check_directory(path)
        return
    name = path.name
    if name in ("", ".", ".."):
        raise _fail(f"{text!r} does not name a file", _HINT)
    try:
        encoded = os.fsencode(name)
    except UnicodeError:
        raise _fail(f"{name!r} cannot be encoded as a file name here", _HINT) from None
    if len(encoded) > _MAX_NAME_BYTES:
        raise _fail(f"file name too long: {len(encoded)} bytes, at most {_MAX_NAME_BYTES}", _HINT)
    check_directory(path.parent)
    for candidate in _names_the_image_may_take(path):
        shown = text if candidate == path else str(candidate)
        if candidate.exists() or candidate.is_symlink():
            if not candidate.is_file():
                raise _fail(f"{shown!r} exists and is not a regular file", _HINT)
            if not overwrite:
                raise _fail(
                    f"{shown!r} already exists; pass --overwrite to replace it, "
                    "or choose another -o",
                    _HINT,
                )


def _names_the_image_may_take(path: Path) -> list[Path]:
    """`path`, and the names `download` gives it when the content is another image kind."""
    extensions = set(IMAGE_EXTENSIONS.values())
    if path.suffix.lower() not in {*extensions, ".jpeg"}:
        return [path]  # download keeps a name that does not say an image kind
    return [path, *(path.with_suffix(ext) for ext in sorted(extensions) if ext != path.suffix)]


def emit_json(data: dict[str, Any]) -> None:
    """Print `data` as one line of JSON on stdout (non-ASCII characters kept as they are)."""
    click.echo(json.dumps(data, ensure_ascii=False))


def is_interactive() -> bool:
    """Whether to draw live displays: only when stdout and stderr are both terminals."""
    return sys.stdout.isatty() and sys.stderr.isatty()
