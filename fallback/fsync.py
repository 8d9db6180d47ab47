"""`fsync_directory`: make a directory entry (a newly created file) durable."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """fsync ``directory`` so a file just created in it survives a power loss. Best effort: some
    platforms and filesystems cannot open or fsync directories, and then this does nothing."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["fsync_directory"]
