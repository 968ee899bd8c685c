"""The append-only, hash-chained audit log.

One JSON object per line. Each entry carries ``seq`` (0-based), ``prev`` (the hash of the previous entry, or 64
zeros for the first), and ``hash`` = SHA-256 of the canonical JSON of the entry without ``hash``. Altering,
deleting, inserting or reordering any entry breaks the chain at that point; truncation is caught against a
signed log head (``seq`` and ``hash`` of the last entry) that the device publishes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.errors import ConsentError

log = logging.getLogger(__name__)

GENESIS = "0" * 64
RESERVED = frozenset({"seq", "time", "kind", "prev", "hash"})
_TAIL_CHUNK = 4096


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _write_whole(fd: int, data: bytes) -> None:
    """Write one entry or nothing: a short write on a full card is cut back off, so the log never ends in half an
    entry that would stop every later append."""
    size = os.lseek(fd, 0, os.SEEK_END)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, "short write")
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _last_line(fd: int) -> bytes | None:
    """The last non-empty line of the file open at ``fd``, read backwards in chunks."""
    end = os.lseek(fd, 0, os.SEEK_END)
    tail = b""
    pos = end
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        stripped = tail.rstrip(b"\n")
        cut = stripped.rfind(b"\n")
        if cut >= 0:
            return stripped[cut + 1 :]
    stripped = tail.rstrip(b"\n")
    return stripped or None


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class LogHead:
    count: int
    last_hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    count: int
    last_hash: str
    bad_seq: int | None = None  # the first entry that does not verify (line number - 1)
    problem: str = ""


class AuditLog:
    """Append-only log at ``path``. Appends are serialised with an advisory lock so that the daemon and the
    command line can both write to it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one entry durably. A log that cannot be written (a full card) raises :class:`ConsentError`:
        callers for which the entry is a precondition (a share) must then not act."""
        clash = RESERVED & fields.keys()
        if clash:
            # These belong to the chain itself; a field of that name would silently break it.
            raise ValueError(f"audit entry fields {sorted(clash)} are reserved")
        try:
            return self._append(kind, fields)
        except OSError as exc:
            raise ConsentError(f"{self.path}: cannot write the audit log: {exc.strerror or exc}") from exc

    def note(self, kind: str, **fields: Any) -> bool:
        """Append an entry whose loss must not stop the agent (start, stop, fail-closed episodes, evictions);
        a failure is logged and the agent keeps running."""
        try:
            self.append(kind, **fields)
        except ConsentError as exc:
            log.error("audit entry %s not written: %s", kind, exc)
            return False
        return True

    def _append(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            head = self._head_locked(fd)
            entry: dict[str, Any] = {
                "seq": head.count,
                "time": round(time.time(), 3),
                "kind": kind,
                **fields,
                "prev": head.last_hash,
            }
            entry["hash"] = entry_hash(entry)
            _write_whole(fd, _canonical(entry) + b"\n")
        finally:
            os.close(fd)
        return entry

    def _head_locked(self, fd: int) -> LogHead:
        """The last entry's position and hash, read from the end of the file: appending stays cheap however long
        the log grows (verifying it is what reads it whole)."""
        last = _last_line(fd)
        if last is None:
            return LogHead(0, GENESIS)
        try:
            entry = json.loads(last)
            return LogHead(int(entry["seq"]) + 1, str(entry["hash"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConsentError(
                f"{self.path}: the last audit entry is unreadable; run: edge-agent audit verify"
            ) from exc

    def head(self) -> LogHead:
        result = self.verify()
        return LogHead(result.count, result.last_hash)

    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        try:
            fh = self.path.open("rb")
        except OSError as exc:
            raise ConsentError(f"{self.path}: cannot read the audit log: {exc.strerror or exc}") from exc
        with fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    entry = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise ConsentError(f"{self.path}:{lineno}: audit entry is not valid JSON") from exc
                if not isinstance(entry, dict):
                    raise ConsentError(f"{self.path}:{lineno}: audit entry is not an object")
                yield entry

    def verify(self, expected_head: LogHead | None = None) -> VerifyResult:
        prev = GENESIS
        count = 0
        try:
            for index, entry in enumerate(self.entries()):
                problem = ""
                if entry.get("seq") != index:
                    problem = f"sequence number {entry.get('seq')!r} where {index} was expected"
                elif entry.get("prev") != prev:
                    problem = "does not link to the entry before it"
                elif entry.get("hash") != entry_hash(entry):
                    problem = "content does not match its hash"
                if problem:
                    return VerifyResult(False, count, prev, index, f"entry {index}: {problem}")
                prev = str(entry["hash"])
                count += 1
        except ConsentError as exc:
            return VerifyResult(False, count, prev, count, str(exc))
        if expected_head is not None and (
            count < expected_head.count or (count == expected_head.count and prev != expected_head.last_hash)
        ):
            return VerifyResult(
                False, count, prev, count, f"log has {count} entries; the signed head says {expected_head.count}"
            )
        return VerifyResult(True, count, prev)
