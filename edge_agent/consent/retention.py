"""Local retention: redacted segments kept on the device, encrypted at rest, so that a request can be answered.

Each segment is sealed with the ordinary envelope to a device-local X25519 key (``identity/retention.x25519.key``,
0600), signed by the device key, and stored as ``retention/<start-ms>-<end-ms>-<seq>.sealed``. Nothing
unredacted ever reaches this folder: it takes :class:`Segment` objects, which the segment stage makes only from
redacted frames. Segments older than the profile's ``retention.hours``, and the oldest beyond
``retention.max_bytes``, are deleted.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.config import keys
from edge_agent.core.files import atomic_write
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConsentError, OpenError
from edge_agent.seal import Recipient, open_segment, seal_segment
from edge_agent.segment.model import Segment

log = logging.getLogger(__name__)

RETAINED_CONSENT_ID = "retained-local"
_NAME = re.compile(r"^(\d{13,})-(\d{13,})-(\d+)\.sealed$")


@dataclass(frozen=True, slots=True)
class RetainedItem:
    path: Path
    start: float
    end: float
    seq: int
    size: int


@dataclass(frozen=True, slots=True)
class Pruned:
    expired: tuple[RetainedItem, ...]  # past the retention time
    evicted: tuple[RetainedItem, ...]  # the oldest, deleted to stay under the byte cap

    def __len__(self) -> int:
        return len(self.expired) + len(self.evicted)


def retention_key_path(paths: DevicePaths) -> Path:
    return paths.root / "identity" / "retention.x25519.key"


def load_or_create_retention_key(paths: DevicePaths) -> X25519PrivateKey:
    path = retention_key_path(paths)
    if path.exists():
        return keys.load_x25519_private(path)
    keys.ensure_private_dir(path.parent)
    key, raw = keys.new_x25519()
    keys.write_private(path, raw)
    return key


class Retention:
    """The retention folder of one device. Safe to use from the daemon and the command line at once: every
    write is atomic and a reader skips files that vanish under it."""

    def __init__(self, paths: DevicePaths, signer: Ed25519PrivateKey, hours: float, max_bytes: int) -> None:
        self.folder = paths.root / "retention"
        self._signer = signer
        self._device_key: Ed25519PublicKey = signer.public_key()
        self._key = load_or_create_retention_key(paths)
        self.hours = hours
        self.max_bytes = max_bytes

    def keep(self, segment: Segment) -> RetainedItem:
        sealed = seal_segment(
            segment,
            consent_id=RETAINED_CONSENT_ID,
            prev_hash="",
            signer=self._signer,
            recipients=[Recipient(self._key.public_key())],
        )
        meta = segment.meta
        name = f"{round(meta.start * 1000):013d}-{round(meta.end * 1000):013d}-{meta.seq}.sealed"
        path = self.folder / name
        atomic_write(path, sealed.blob, mode=0o600)
        return RetainedItem(path, meta.start, meta.end, meta.seq, len(sealed.blob))

    def items(self) -> list[RetainedItem]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in self.folder.iterdir():
            match = _NAME.fullmatch(path.name)
            if not match:
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            out.append(RetainedItem(path, int(match[1]) / 1000, int(match[2]) / 1000, int(match[3]), size))
        return sorted(out, key=lambda item: (item.start, item.seq))

    def prune(self, now: float | None = None) -> Pruned:
        """Delete segments past the retention time, then the oldest while over the byte cap."""
        now = time.time() if now is None else now
        items = self.items()
        cutoff = now - self.hours * 3600.0
        expired = [item for item in items if item.end < cutoff]
        kept = [item for item in items if item.end >= cutoff]
        total = sum(item.size for item in kept)
        evicted = []
        while kept and total > self.max_bytes:
            oldest = kept.pop(0)
            total -= oldest.size
            evicted.append(oldest)
        for item in expired + evicted:
            item.path.unlink(missing_ok=True)
        return Pruned(tuple(expired), tuple(evicted))

    def window(self, start: float, end: float) -> list[RetainedItem]:
        """Every segment that overlaps ``[start, end)``: a request gets all the footage of its window, in whole
        segments (so at most one segment's length more at each end), and nothing that does not touch it."""
        return [item for item in self.items() if item.end > start and item.start < end]

    def open(self, item: RetainedItem) -> Segment:
        try:
            opened = open_segment(item.path.read_bytes(), private_key=self._key, device_key=self._lookup)
        except (OSError, OpenError) as exc:
            raise ConsentError(f"{item.path}: retained segment cannot be opened") from exc
        return Segment(opened.header.meta, opened.plaintext)

    def _lookup(self, device_id: str) -> Ed25519PublicKey | None:
        return self._device_key
