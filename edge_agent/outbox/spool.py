"""The durable outbox: sealed segments wait here, one file each, until the broker has acknowledged them.

Each item is one file named ``<seq, 20 digits>.item``: a fixed header (magic, seq, the lengths of topic, consent id
and blob, and a SHA-256 over everything else) followed by the topic, the consent id and the sealed blob. A file is
written to a temporary name, fsynced, renamed and the folder fsynced, so after a crash an item is either whole or
absent. The folder on disk is the truth: the index is refreshed from it, so that the command line can drop items
(consent revoked) while the daemon runs. A file that fails its checks is moved to ``quarantine/`` instead of being
retried forever; one the broker refuses goes to ``rejected/``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_agent.core.files import atomic_write, fsync_dir, pid_alive
from edge_agent.errors import OutboxError
from edge_agent.outbox.archive import AT_CAP, DISK_FULL, SHARED, SentArchive

log = logging.getLogger(__name__)

MAGIC = b"EAOUTBX1"
_HEADER = struct.Struct(">8sQHHQ32s")  # magic, seq, topic length, consent id length, blob length, sha256
_ITEM_RE = re.compile(r"^([0-9]{20})\.item$")
_TMP_RE = re.compile(r"^\..+\.([0-9]+)\.tmp$")  # edge_agent.core.files.atomic_write's temporary names
_STALE_TMP_S = 3600.0
QUARANTINE = "quarantine"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    topic: str
    consent_id: str
    size: int  # bytes on disk (header + topic + consent id + blob): what counts against the cap
    path: Path


def _digest(seq: int, topic: bytes, consent: bytes, blob: bytes | memoryview) -> bytes:
    h = hashlib.sha256()
    h.update(MAGIC + struct.pack(">QHHQ", seq, len(topic), len(consent), len(blob)))
    h.update(topic)
    h.update(consent)
    h.update(blob)
    return h.digest()


def encode_item(seq: int, topic: str, consent_id: str, blob: bytes) -> bytes:
    t, c = topic.encode(), consent_id.encode()
    if len(t) > 0xFFFF or len(c) > 0xFFFF:
        raise OutboxError(f"topic or consent id of segment {seq} is too long for the outbox")
    header = _HEADER.pack(MAGIC, seq, len(t), len(c), len(blob), _digest(seq, t, c, blob))
    return header + t + c + blob


class _Corrupt(Exception):
    """An item file fails its checks (internal: turned into quarantine + OutboxError)."""


def _parse_header(path: Path, head: bytes, file_size: int) -> OutboxItem:
    if len(head) < _HEADER.size:
        raise _Corrupt("truncated header")
    magic, seq, tlen, clen, blen, _ = _HEADER.unpack_from(head)
    if magic != MAGIC:
        raise _Corrupt("bad magic")
    if file_size != _HEADER.size + tlen + clen + blen:
        raise _Corrupt("length does not match the header")
    match = _ITEM_RE.fullmatch(path.name)
    if match is None or int(match.group(1)) != seq:
        raise _Corrupt("file name does not match the sequence number")
    rest = head[_HEADER.size : _HEADER.size + tlen + clen]
    if len(rest) != tlen + clen:
        raise _Corrupt("truncated header")
    try:
        topic, consent_id = rest[:tlen].decode(), rest[tlen:].decode()
    except UnicodeDecodeError as exc:
        raise _Corrupt("topic or consent id is not UTF-8") from exc
    return OutboxItem(seq=seq, topic=topic, consent_id=consent_id, size=file_size, path=path)


def read_item(path: Path) -> OutboxItem | None:
    """The header of the item file at ``path`` (here or in the archive of what was shared); None if it is gone or
    unreadable."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(_HEADER.size)
            if len(head) == _HEADER.size:
                _, _, tlen, clen, _, _ = _HEADER.unpack(head)
                head += f.read(tlen + clen)
        return _parse_header(path, head, size)
    except (OSError, _Corrupt):
        return None


class Outbox:
    """A bounded, crash-safe spool of sealed segments, ordered by sequence number. Thread-safe.

    What the broker acknowledged is kept as sent in ``shared/`` (:mod:`edge_agent.outbox.archive`), with a note
    for what was withheld (revoked) or lost (evicted, refused), so that a segment the center missed can be sent
    again byte for byte (:meth:`requeue`)."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        if max_bytes < 1:
            raise OutboxError(f"outbox cap must be positive, got {max_bytes}")
        self.folder = folder
        self.max_bytes = max_bytes
        self.archive = SentArchive(folder / SHARED)
        self._lock = threading.RLock()
        self._items: dict[str, OutboxItem] = {}
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._remove_stale_tmp()
        except OSError as exc:
            raise OutboxError(f"cannot open outbox {folder}: {exc.strerror or exc}") from exc
        with self._lock:
            self._refresh()
        if self._items:
            log.info("outbox %s: %d item(s) waiting from an earlier run", folder, len(self._items))

    @staticmethod
    def item_name(seq: int) -> str:
        return f"{seq:020d}.item"

    def _remove_stale_tmp(self) -> None:
        """Remove half-written files left by a crash; a live writer's (another process's) are left alone."""
        now = time.time()
        for entry in os.scandir(self.folder):
            match = _TMP_RE.fullmatch(entry.name)
            if match is None:
                continue
            with contextlib.suppress(FileNotFoundError):
                old = now - entry.stat().st_mtime > _STALE_TMP_S
                pid = int(match.group(1))
                if old or (pid != os.getpid() and not pid_alive(pid)):
                    os.unlink(entry.path)
                    log.info("removed an unfinished outbox file %s", entry.name)

    def _refresh(self) -> None:
        """Bring the index in line with the folder (call with the lock held)."""
        try:
            names = {name for name in os.listdir(self.folder) if _ITEM_RE.fullmatch(name)}
        except OSError as exc:
            raise OutboxError(f"cannot list outbox {self.folder}: {exc.strerror or exc}") from exc
        for gone in self._items.keys() - names:
            del self._items[gone]
        for name in sorted(names - self._items.keys()):
            item = self._load(self.folder / name)
            if item is not None:
                self._items[name] = item

    def _load(self, path: Path) -> OutboxItem | None:
        item = read_item(path)
        if item is None and path.exists():
            self._quarantine(path, "unreadable or fails its checks")
        return item

    def _quarantine(self, path: Path, why: str) -> None:
        match = _ITEM_RE.fullmatch(path.name)
        if match is not None:
            self.archive.note(int(match.group(1)), "lost", f"corrupt on the device's storage ({why})")
        moved = self._move(path, QUARANTINE)
        log.error("outbox item %s is unreadable (%s); moved to %s", path.name, why, moved)

    def _move(self, path: Path, sub: str) -> Path:
        target_dir = self.folder / sub
        target = target_dir / path.name
        try:
            target_dir.mkdir(exist_ok=True, mode=0o700)
            if target.exists():
                target = target_dir / f"{path.name}.{time.time_ns()}"
            os.rename(path, target)
            fsync_dir(target_dir)
            fsync_dir(self.folder)
        except FileNotFoundError:
            pass  # already gone: nothing left to set aside
        except OSError as exc:
            raise OutboxError(f"cannot move {path.name} to {target_dir}: {exc.strerror or exc}") from exc
        with self._lock:
            self._items.pop(path.name, None)
        return target

    # -- public API ------------------------------------------------------------------------------------------

    def put(
        self,
        seq: int,
        topic: str,
        consent_id: str,
        blob: bytes,
        *,
        before_commit: Callable[[], object] | None = None,
    ) -> list[OutboxItem]:
        """Store durably; returns the items evicted (oldest first) to stay under the cap.

        ``before_commit`` runs when the item is durable but not yet visible to the publisher; if it raises, the
        item is discarded and the exception propagates."""
        if seq < 0:
            raise OutboxError(f"invalid sequence number {seq}")
        data = encode_item(seq, topic, consent_id, blob)
        if len(data) > self.max_bytes:
            raise OutboxError(
                f"segment {seq} ({len(data)} bytes) is larger than the whole outbox ({self.max_bytes} bytes)"
            )
        name = self.item_name(seq)
        path = self.folder / name
        try:
            try:
                atomic_write(path, data, 0o600, before_rename=before_commit)
            except OSError as exc:
                # A full card gives up copies of what was sent already before it refuses a new segment.
                if exc.errno != errno.ENOSPC or not self.archive.make_room(2 * len(data), DISK_FULL):
                    raise
                atomic_write(path, data, 0o600, before_rename=before_commit)
        except OSError as exc:
            reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise OutboxError(f"cannot store segment {seq} in outbox {self.folder}: {reason}") from exc
        item = OutboxItem(seq=seq, topic=topic, consent_id=consent_id, size=len(data), path=path)
        with self._lock:
            self._refresh()
            self._items[name] = item
            return self._evict(keep=name)

    def _evict(self, keep: str) -> list[OutboxItem]:
        # The new item is written before older ones are evicted, so a failed write never costs an old one. Copies
        # of what was sent already count against the cap too, and go first.
        evicted: list[OutboxItem] = []
        used = sum(i.size for i in self._items.values())
        kept = self.archive.kept_bytes()
        if used + kept > self.max_bytes:
            kept -= self.archive.make_room(used + kept - self.max_bytes, AT_CAP)
        used += max(0, kept)
        for old in sorted(self._items.values(), key=lambda i: i.seq):
            if used <= self.max_bytes:
                break
            if old.path.name == keep:
                continue
            self._unlink(old)
            self.archive.note(old.seq, "lost", "evicted from the outbox at its cap (while the broker was away)")
            used -= old.size
            evicted.append(old)
        if evicted:
            self._sync()
            log.warning("outbox full: evicted %d oldest item(s), seq %s", len(evicted), [i.seq for i in evicted])
        return evicted

    def _unlink(self, item: OutboxItem) -> None:
        try:
            os.unlink(item.path)
        except FileNotFoundError:
            pass  # removed by another process (e.g. a revocation from the command line)
        except OSError as exc:
            raise OutboxError(f"cannot remove {item.path.name} from the outbox: {exc.strerror or exc}") from exc
        self._items.pop(item.path.name, None)

    def _sync(self) -> None:
        try:
            fsync_dir(self.folder)
        except OSError as exc:
            raise OutboxError(f"cannot sync outbox {self.folder}: {exc.strerror or exc}") from exc

    def pending(self) -> list[OutboxItem]:
        """Items waiting, oldest sequence number first."""
        with self._lock:
            self._refresh()
            return sorted(self._items.values(), key=lambda i: i.seq)

    def read(self, item: OutboxItem) -> bytes:
        """The sealed blob of ``item``; OutboxError (and the file quarantined) if it is missing or corrupt."""
        try:
            data = item.path.read_bytes()
        except FileNotFoundError as exc:
            with self._lock:
                self._items.pop(item.path.name, None)
            raise OutboxError(f"segment {item.seq} is no longer in the outbox") from exc
        except OSError as exc:
            self._quarantine(item.path, exc.strerror or str(exc))
            raise OutboxError(f"cannot read segment {item.seq} from the outbox; quarantined") from exc
        try:
            parsed = _parse_header(item.path, data, len(data))
            t, c = parsed.topic.encode(), parsed.consent_id.encode()
            blob = memoryview(data)[_HEADER.size + len(t) + len(c) :]
            if _digest(parsed.seq, t, c, blob) != data[_HEADER.size - 32 : _HEADER.size]:
                raise _Corrupt("checksum mismatch")
        except _Corrupt as exc:
            self._quarantine(item.path, str(exc))
            raise OutboxError(f"segment {item.seq} in the outbox is corrupt ({exc}); quarantined") from exc
        return bytes(blob)

    def ack(self, item: OutboxItem) -> None:
        """The broker has ``item``: move it to the archive of what was shared (one rename, made durable). An item
        that is already gone is fine."""
        with self._lock:
            try:
                self.archive.keep(item.path, item.seq)
            except FileNotFoundError:
                pass  # removed by another process (a revocation from the command line)
            except OSError as exc:
                raise OutboxError(f"cannot move segment {item.seq} to {self.archive.folder}: "
                                  f"{exc.strerror or exc}") from exc
            self._items.pop(item.path.name, None)
            self._sync()

    def drop(self, select: Callable[[str], bool], reason: str) -> list[OutboxItem]:
        """Withhold every segment whose consent id ``select`` picks (its consent was revoked): the waiting ones
        are deleted, the kept copies of those already sent too, each with a note. Returns the waiting ones."""
        with self._lock:
            self._refresh()
            dropped = [i for i in sorted(self._items.values(), key=lambda i: i.seq) if select(i.consent_id)]
            for item in dropped:
                self._unlink(item)
                self.archive.note(item.seq, "withheld", reason, item.consent_id)
            if dropped:
                self._sync()
        self.archive.withhold(_consent_of, select, reason)
        return dropped

    def reject(self, item: OutboxItem, reason: str) -> Path:
        """Set aside an item the broker refuses for good, so that it is not retried forever."""
        moved = self._move(item.path, REJECTED)
        self.archive.note(item.seq, "lost", f"refused by the broker: {reason}")
        log.error("broker refused segment %d (%s); moved to %s", item.seq, reason, moved)
        return moved

    def waiting(self, seq: int) -> bool:
        with self._lock:
            return self.item_name(seq) in self._items or (self.folder / self.item_name(seq)).exists()

    def requeue(self, seq: int) -> bool:
        """Send a segment again exactly as first sent: its kept copy goes back into the outbox (a hard link made
        under a temporary name, then renamed). False when there is no kept copy."""
        kept = self.archive.item(seq)
        if kept is None:
            return False
        name = self.item_name(seq)
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        with self._lock:
            if name in self._items:
                return True  # already waiting
            try:
                os.link(kept, tmp)
                os.replace(tmp, self.folder / name)
            except FileNotFoundError:
                return False  # withheld or pruned meanwhile
            except OSError as exc:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise OutboxError(f"cannot put segment {seq} back in the outbox: {exc.strerror or exc}") from exc
            self._sync()
            self._refresh()
        return True

    @property
    def used_bytes(self) -> int:
        with self._lock:
            self._refresh()
            return sum(i.size for i in self._items.values())


def _consent_of(path: Path) -> str | None:
    item = read_item(path)
    return None if item is None else item.consent_id
