"""The paired browsers the device knows, so that signing out ends a session on the device and not only in the
browser.

The session cookie is signed, not encrypted or stored: on its own, a copy taken before "Sign out" would stay good
for its 30 days. So each pairing gets a random session id, the cookie carries it, and ``<data-dir>/ui/sessions.json``
lists the SHA-256 of every id still valid. A request whose id is not listed is not paired. Signing out removes
the id; ``edge-agent ui unpair`` empties the list (and renews the cookie key). The list is bounded: pairing more
than ``MAX_SESSIONS`` browsers drops the longest unused one.

The file is shared by the agent's page and the command line, and changed under a lock file so that two writers do
not lose each other's change.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edge_agent.config import keys
from edge_agent.core.files import atomic_write
from edge_agent.errors import ConfigError

MAX_SESSIONS = 32
SEEN_EVERY_S = 3600.0  # how often a session's "last seen" is rewritten (not at every request)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionRegistry:
    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.path = folder / "sessions.json"
        self._clock = clock

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        keys.ensure_private_dir(self.folder)
        fd = os.open(self.folder / "sessions.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            table = self._read()
            before = json.dumps(table, sort_keys=True)
            yield table
            if json.dumps(table, sort_keys=True) != before:
                atomic_write(self.path, json.dumps(table, sort_keys=True).encode("utf-8"), mode=0o600)
        finally:
            os.close(fd)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{self.path}: unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{self.path}: not a JSON object")
        return {str(k): v for k, v in data.items() if isinstance(v, dict)}

    def open(self, method: str) -> str:
        """A new session id for a browser that just paired."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with self._locked() as table:
            table[_digest(session_id)] = {"since": round(now), "seen": round(now), "method": method}
            while len(table) > MAX_SESSIONS:
                del table[min(table, key=lambda k: float(table[k].get("seen", 0)))]
        return session_id

    def valid(self, session_id: object) -> bool:
        if not isinstance(session_id, str) or not session_id:
            return False
        digest = _digest(session_id)
        entry = self._read().get(digest)
        if entry is None:
            return False
        if self._clock() - float(entry.get("seen", 0)) > SEEN_EVERY_S:
            with self._locked() as table:
                if digest in table:
                    table[digest]["seen"] = round(self._clock())
        return True

    def close(self, session_id: object) -> bool:
        """Sign one browser out; True when it was signed in."""
        if not isinstance(session_id, str):
            return False
        with self._locked() as table:
            return table.pop(_digest(session_id), None) is not None

    def close_all(self) -> int:
        with self._locked() as table:
            count = len(table)
            table.clear()
        return count

    def count(self) -> int:
        return len(self._read())
