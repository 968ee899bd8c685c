"""Messages set aside: ones whose handling failed on every try, kept for a person to look at, never retried.

A message is set aside only after the center's own code failed on it ``tries`` times (a bug, or a disk that keeps
failing), so that it is acknowledged and the broker's in-flight window is never blocked by one message that cannot
be handled: one poison message must not stop intake for every device. Each is one file::

    deadletter/<time-ns>-<sha256 prefix>.msg    a JSON line (topic, reason, size, time), then the payload

The folder is bounded by count and bytes; past either, the oldest are deleted (their JSON line stays in
``rejected.jsonl``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from edge_agent.center.files import write_private

log = logging.getLogger(__name__)

MAX_ITEMS = 1000
MAX_BYTES = 256 << 20


class DeadLetters:
    def __init__(self, folder: Path, *, max_items: int = MAX_ITEMS, max_bytes: int = MAX_BYTES) -> None:
        self.folder = folder
        self.max_items = max_items
        self.max_bytes = max_bytes

    def put(self, topic: str, payload: bytes, reason: str) -> Path:
        """Keep ``payload`` with why it was set aside, then trim the folder to its bounds (OSError if the disk
        fails too: the caller then leaves the message unacknowledged)."""
        meta = {"time": round(time.time(), 3), "topic": topic[:256], "reason": reason[:500], "size": len(payload)}
        head = (json.dumps(meta, sort_keys=True) + "\n").encode("utf-8")
        name = f"{time.time_ns():020d}-{hashlib.sha256(payload).hexdigest()[:16]}.msg"
        path = self.folder / name
        # A payload larger than the whole folder is kept as its JSON line only.
        write_private(path, head + (payload if len(head) + len(payload) <= self.max_bytes else b""))
        self._trim()
        log.error("message on %s set aside in %s: %s", topic[:256], path, reason[:500])
        return path

    def items(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.endswith(".msg"))

    def _trim(self) -> None:
        items = self.items()
        sizes = {}
        for path in items:
            with contextlib.suppress(FileNotFoundError):
                sizes[path] = path.stat().st_size
        total = sum(sizes.values())
        count = len(sizes)
        for path in sorted(sizes):
            if count <= self.max_items and total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= sizes[path]
            count -= 1
