"""One process at a time on a folder: an advisory lock held for as long as the process runs.

Two agents on one data folder would knock each other off the broker (one client id), reuse sequence numbers and
report segments delivered that the center refuses. The lock is ``flock`` on ``<folder>/agent.lock``: the kernel
drops it when the process ends, however it ends, so a crash never leaves a stale lock. The file also names the
holder's pid, for the second process's error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import BinaryIO

from edge_agent.errors import DaemonError


class FolderLock:
    def __init__(self, folder: Path, name: str = "agent.lock") -> None:
        self.path = folder / name
        # A file object, not a bare descriptor: should the holder be dropped without release(), closing it on
        # collection drops the lock too.
        self._file: BinaryIO | None = None

    def acquire(self) -> None:
        """Take the lock, or raise DaemonError naming the folder and the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DaemonError(
                f"another edge-agent is already running on {self.path.parent} (pid {holder}): stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._file = os.fdopen(fd, "r+b", buffering=0)

    def release(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(file.fileno(), 0)
            file.close()  # closing the descriptor drops the lock
