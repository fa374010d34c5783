"""The journal's file-system rules.

One batch per directory (a lock), no partial downloads left behind, and a new file's
directory entry made durable.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

__all__ = ["JournalLockedError"]


class JournalLockedError(Exception):
    """Another process is running a batch into the same directory."""


def _lock(file: IO[str]) -> None:
    # Two batches appending to one journal would each resubmit the other's intents.
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock, documented
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise JournalLockedError(f"another batch is running into {file.name}") from exc


def _remove_partial_downloads(directory: Path) -> None:
    # A download killed mid-way leaves the SDK's temporary file (".sharkapi-*.part")
    # beside its target; the final name only ever appears complete, so these are waste.
    # os.scandir streams the listing: `Path.glob` held about 25 MB for 100,000 images.
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".sharkapi-") and name.endswith(".part"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _fsync_dir(directory: Path) -> None:
    # The new journal's directory entry must survive a crash too, not only its bytes.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows, where directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
