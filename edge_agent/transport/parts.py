"""Splitting payloads that exceed the broker's maximum packet size, and putting them back together.

A split message is published as N messages on the same topic, each with the MQTT v5 user properties
``part`` = "i/N" (1-based), ``msg`` = a random 128-bit id in hex, ``sha256`` = the digest of the whole payload and
``size`` = its length. Parts may arrive at different center workers of one shared subscription, so the
:class:`Reassembler` keeps them on disk in a folder the workers share: each part is one file, written atomically;
the worker whose write completes the set claims it with an atomic rename of the set's folder (only one rename can
win), joins the parts, checks the digest and returns the payload. Sets that never complete are purged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_agent.core.files import atomic_write
from edge_agent.errors import TransportError
from edge_agent.transport.model import InboundMessage

log = logging.getLogger(__name__)

PART = "part"
MSG = "msg"
SHA256 = "sha256"
SIZE = "size"
MAX_PARTS = 999_999  # part file names have six digits
PACKET_MARGIN = 256  # room kept free in every part beyond what we compute, in case a broker counts differently
MIN_PART = 1024
_MSG_RE = re.compile(r"^[0-9a-f]{32}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_PART_RE = re.compile(r"^([1-9][0-9]{0,5})/([1-9][0-9]{0,5})$")
_PART_FILE_RE = re.compile(r"^[0-9]{6}$")
_SIZE_RE = re.compile(r"^[0-9]{1,15}$")
_DONE = ".done"
_CLAIM = ".claim-"

UserProperties = tuple[tuple[str, str], ...]


def _varint_len(n: int) -> int:
    size = 1
    while n >= 128:
        n //= 128
        size += 1
    return size


def publish_packet_size(
    topic: str,
    payload_len: int,
    user_properties: Sequence[tuple[str, str]] = (),
    content_type: str | None = None,
    expiry: int | None = None,
) -> int:
    """The size of an MQTT v5 PUBLISH packet (QoS > 0), as the broker compares it to its maximum."""
    props = sum(5 + len(k.encode()) + len(v.encode()) for k, v in user_properties)
    if content_type is not None:
        props += 3 + len(content_type.encode())
    if expiry is not None:
        props += 5
    variable = 2 + len(topic.encode()) + 2 + _varint_len(props) + props
    remaining = variable + payload_len
    return 1 + _varint_len(remaining) + remaining


def part_properties_template() -> UserProperties:
    """User properties of the largest possible part, for computing the room they take."""
    return ((PART, f"{MAX_PARTS}/{MAX_PARTS}"), (MSG, "0" * 32), (SHA256, "0" * 64), (SIZE, "9" * 12))


def split_payload(payload: bytes, chunk: int) -> list[tuple[bytes, UserProperties]]:
    """Cut ``payload`` into parts of at most ``chunk`` bytes, each with its part properties."""
    if chunk < 1:
        raise TransportError(f"cannot split a payload into parts of {chunk} bytes")
    count = max(1, -(-len(payload) // chunk))
    if count > MAX_PARTS:
        raise TransportError(f"payload of {len(payload)} bytes needs {count} parts, more than {MAX_PARTS}")
    msg_id = uuid.uuid4().hex
    digest = hashlib.sha256(payload).hexdigest()
    view = memoryview(payload)
    return [
        (
            bytes(view[i * chunk : (i + 1) * chunk]),
            ((PART, f"{i + 1}/{count}"), (MSG, msg_id), (SHA256, digest), (SIZE, str(len(payload)))),
        )
        for i in range(count)
    ]


def plan_parts(
    topic: str,
    payload: bytes,
    limit: int | None,
    user_properties: UserProperties = (),
    *,
    content_type: str | None = None,
    expiry: int | None = None,
    retain: bool = False,
) -> list[tuple[bytes, UserProperties]]:
    """The messages to publish for ``payload`` under a broker maximum packet size of ``limit`` (None: no limit).

    Returns ``[(payload, ())]`` when it fits, else the parts with their extra user properties.
    """
    if limit is None or publish_packet_size(topic, len(payload), user_properties, content_type, expiry) <= limit:
        return [(payload, ())]
    if retain:
        raise TransportError(f"retained message on {topic} exceeds the broker's limit of {limit} bytes")
    room = user_properties + part_properties_template()
    chunk = limit - publish_packet_size(topic, 0, room, content_type, expiry) - PACKET_MARGIN
    if chunk < MIN_PART:
        raise TransportError(f"broker maximum packet size {limit} is too small to split messages")
    return split_payload(payload, chunk)


@dataclass(frozen=True, slots=True)
class PartInfo:
    index: int  # 1-based
    count: int
    msg_id: str
    sha256: str
    size: int


def part_info(msg: InboundMessage) -> PartInfo | None:
    """The part properties of ``msg``; None for a message that was not split; TransportError if malformed."""
    part = msg.property(PART)
    if part is None:
        return None
    match = _PART_RE.fullmatch(part)
    msg_id, digest, size = msg.property(MSG), msg.property(SHA256), msg.property(SIZE)
    if (
        match is None
        or msg_id is None
        or not _MSG_RE.fullmatch(msg_id)
        or digest is None
        or not _SHA_RE.fullmatch(digest)
        or size is None
        or not _SIZE_RE.fullmatch(size)  # not str.isdigit(): it accepts "²", which int() refuses
    ):
        raise TransportError(f"malformed part properties on a message on {msg.topic}")
    index, count = int(match.group(1)), int(match.group(2))
    if index > count:
        raise TransportError(f"malformed part properties on a message on {msg.topic}: part {part}")
    return PartInfo(index=index, count=count, msg_id=msg_id, sha256=digest, size=int(size))


def _remove_tree(path: Path) -> None:
    """Remove a flat folder of parts that another worker may be removing at the same time."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path / name)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        # A late writer's temporary file can still appear here; the purge removes the folder later.
        log.debug("cannot remove %s yet: %s", path, exc.strerror)


class Reassembler:
    """Joins split messages; several workers (threads or processes) may share one ``folder``."""

    def __init__(self, folder: Path, *, stale_after: float = 600.0) -> None:
        self.folder = folder
        self.stale_after = stale_after
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / _DONE).mkdir(exist_ok=True)
        self._last_purge = 0.0

    def feed(self, msg: InboundMessage) -> bytes | None:
        """Return the whole payload when ``msg`` completes it (or was never split), else None."""
        info = part_info(msg)
        if info is None:
            return msg.payload
        self._maybe_purge()
        key = self._key(msg.topic, info)
        if (self.folder / _DONE / key).exists():
            log.debug("duplicate part %d/%d of an assembled message on %s", info.index, info.count, msg.topic)
            return None
        set_dir = self.folder / key
        try:
            atomic_write(set_dir / f"{info.index:06d}", msg.payload, 0o600)
        except FileNotFoundError:
            # The set was claimed while this (duplicate) part was being written.
            return None
        except OSError as exc:
            raise TransportError(f"cannot store a message part in {self.folder}: {exc.strerror}") from exc
        if self._count_parts(set_dir) < info.count:
            return None
        return self._claim_and_join(set_dir, key, info, msg.topic)

    @staticmethod
    def _key(topic: str, info: PartInfo) -> str:
        # Opaque and fixed-length: nothing a sender chooses ends up in a path, and sets from different topics
        # (devices) can never mix even if their message ids collide.
        material = f"{topic}\0{info.msg_id}\0{info.count}\0{info.sha256}\0{info.size}".encode()
        return hashlib.sha256(material).hexdigest()

    @staticmethod
    def _count_parts(set_dir: Path) -> int:
        try:
            return sum(1 for name in os.listdir(set_dir) if _PART_FILE_RE.fullmatch(name))
        except FileNotFoundError:
            return 0

    def _claim_and_join(self, set_dir: Path, key: str, info: PartInfo, topic: str) -> bytes | None:
        claimed = self.folder / f"{_CLAIM}{key}-{uuid.uuid4().hex}"
        try:
            os.rename(set_dir, claimed)
        except FileNotFoundError:
            return None  # another worker claimed it
        try:
            if self._count_parts(claimed) < info.count:
                # Only possible when a late duplicate re-created the folder after an earlier claim.
                return None
            data = b"".join((claimed / f"{i:06d}").read_bytes() for i in range(1, info.count + 1))
            if len(data) != info.size or hashlib.sha256(data).hexdigest() != info.sha256:
                raise TransportError(f"a split message on {topic} failed its length or SHA-256 check")
            atomic_write(self.folder / _DONE / key, b"", 0o600)
            return data
        except OSError as exc:
            raise TransportError(f"cannot join message parts in {self.folder}: {exc.strerror}") from exc
        finally:
            _remove_tree(claimed)

    def _maybe_purge(self) -> None:
        now = time.time()
        if now - self._last_purge >= min(60.0, self.stale_after / 4):
            self._last_purge = now
            self.purge(now)

    def purge(self, now: float | None = None) -> int:
        """Remove incomplete sets, abandoned claims and done markers older than ``stale_after``."""
        cutoff = (time.time() if now is None else now) - self.stale_after
        removed = 0
        for folder in (self.folder, self.folder / _DONE):
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name == _DONE:
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            _remove_tree(Path(entry.path))
                        else:
                            os.unlink(entry.path)
                        removed += 1
        if removed:
            log.info("purged %d stale message part sets from %s", removed, self.folder)
        return removed
