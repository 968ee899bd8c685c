"""How the center writes its files: private (0600 files, 0700 folders), atomic, and bounded where they grow.

The center's folder holds decrypted evidence and the keys that open it. Outside the systemd unit (whose umask is
0077) nothing but the center's own user may read it, whichever umask the shell had when ``edge-center`` ran.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from edge_agent.core.files import append_line, atomic_write, make_dirs

FILE_MODE = 0o600
DIR_MODE = 0o700
# rejected.jsonl is written for hostile input: it is rotated (one previous file kept) past this size.
LOG_MAX_BYTES = 64 << 20


def secure_root(root: Path) -> None:
    """Create the center's folder as 0700, and tighten one made before (by an older version or by hand)."""
    make_dirs(root, DIR_MODE)
    os.chmod(root, DIR_MODE)


def write_private(path: Path, data: bytes, *, exclusive: bool = False, durable: bool = True) -> None:
    atomic_write(path, data, FILE_MODE, exclusive=exclusive, durable=durable, dir_mode=DIR_MODE)


def append_private(path: Path, line: str, *, durable: bool = True) -> None:
    append_line(path, line, durable=durable, mode=FILE_MODE, dir_mode=DIR_MODE)


def append_bounded(path: Path, line: str, *, durable: bool = True, max_bytes: int = LOG_MAX_BYTES) -> None:
    """Append to a log that hostile input can grow: past ``max_bytes`` it moves to ``<name>.1`` (replacing the
    previous one) and starts afresh, so the pair never holds much more than twice ``max_bytes``."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size >= max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    append_private(path, line, durable=durable)
