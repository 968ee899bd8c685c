"""Segments that arrived before the consent record or answer they name: held on disk, bounded, and expiring.

MQTT orders messages per topic, not across topics, so a segment can overtake its consent record. It waits in::

    pending/<device>/<consent-id>/<seq>-<tag>.sealed

and is fed through the ingest again only when a record or answer with *that* id arrives (a new record costs
the segments that name it, not every held segment of the device). A device holds at most ``max_items`` segments
and ``max_bytes``; a segment over the cap is refused, and one that waited longer than ``hold_for`` seconds is
dropped (both counted and logged by the caller). Neither is lost for good: it leaves a gap in the device's
chain, which the center's repair asks the device to fill (:mod:`edge_agent.center.repair`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.files import write_private
from edge_agent.core.files import pid_alive
from edge_agent.transport.topics import DEVICE_ID_RE, check_device_id

log = logging.getLogger(__name__)

MAX_ITEMS = 256
MAX_BYTES = 1 << 30
HOLD_FOR_S = 3600.0
_CONSENT_ID = re.compile(r"^[cr]-[0-9a-f]{16}$")
_HELD = re.compile(r"^([0-9]{10,})-[0-9a-f]{12}\.sealed(\.claimed-([0-9]+))?$")


@dataclass(frozen=True, slots=True)
class Held:
    device_id: str
    consent_id: str
    seq: int
    path: Path


class PendingStore:
    def __init__(
        self, folder: Path, *, max_items: int = MAX_ITEMS, max_bytes: int = MAX_BYTES, hold_for: float = HOLD_FOR_S
    ) -> None:
        self.folder = folder
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.hold_for = hold_for

    def _device_dir(self, device_id: str) -> Path:
        return self.folder / check_device_id(device_id)

    def _files(self, device_id: str) -> list[Path]:
        folder = self._device_dir(device_id)
        if not folder.is_dir():
            return []
        return [p for sub in folder.iterdir() if sub.is_dir() for p in sub.iterdir() if _HELD.fullmatch(p.name)]

    def hold(self, device_id: str, consent_id: str, seq: int, payload: bytes) -> str:
        """Keep ``payload`` until ``consent_id`` is known: ``""``, or the reason it is refused."""
        if not _CONSENT_ID.fullmatch(consent_id):
            return "consent id names no consent record or request"
        files = self._files(device_id)
        used = sum(_size(p) for p in files)
        if len(files) >= self.max_items or used + len(payload) > self.max_bytes:
            return f"too many segments wait for their consent record ({len(files)}, {used} bytes)"
        tag = hashlib.sha256(payload).hexdigest()[:12]
        write_private(self._device_dir(device_id) / consent_id / f"{seq:010d}-{tag}.sealed", payload)
        return ""

    def recheck(
        self,
        device_id: str,
        consent_id: str,
        ingest: Callable[[bytes], object],
        sync: Callable[[], None] = lambda: None,
    ) -> int:
        """Feed every segment held for ``consent_id`` through ``ingest`` again (which may hold it again).

        A held segment is claimed by renaming it to ``.claimed-<pid>``, and deleted only after ``sync`` made the
        re-ingest durable, so a crash in between loses nothing: a claim whose worker is gone is taken up again."""
        if not _CONSENT_ID.fullmatch(consent_id):
            return 0
        count = 0
        for path in _claimable(self._device_dir(device_id) / consent_id):
            claimed = path.with_name(f"{path.name.split('.')[0]}.sealed.claimed-{os.getpid()}")
            try:
                path.rename(claimed)
                payload = claimed.read_bytes()
            except FileNotFoundError:
                continue  # another worker took it
            ingest(payload)
            sync()
            claimed.unlink(missing_ok=True)
            count += 1
        return count

    def expire(self, now: float | None = None) -> list[Held]:
        """Drop segments held longer than ``hold_for``; returns them (for the rejection log)."""
        cutoff = (time.time() if now is None else now) - self.hold_for
        dropped: list[Held] = []
        if not self.folder.is_dir():
            return dropped
        for device in self.folder.iterdir():
            if not device.is_dir() or not DEVICE_ID_RE.fullmatch(device.name):
                continue
            for path in self._files(device.name):
                match = _HELD.fullmatch(path.name)
                with contextlib.suppress(FileNotFoundError):
                    if match and path.stat().st_mtime < cutoff and not _live_claim(match):
                        path.unlink()
                        dropped.append(Held(device.name, path.parent.name, int(match[1]), path))
        if dropped:
            log.warning("%d held segment(s) dropped: their consent record never arrived", len(dropped))
        return dropped

    def count(self) -> int:
        if not self.folder.is_dir():
            return 0
        return sum(len(self._files(d.name)) for d in self.folder.iterdir() if DEVICE_ID_RE.fullmatch(d.name))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _live_claim(match: re.Match[str]) -> bool:
    return match[3] is not None and pid_alive(int(match[3]))


def _claimable(folder: Path) -> list[Path]:
    """Held segments, and claims left by a worker that died before it finished with them."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _HELD.fullmatch(path.name)
        if match and not _live_claim(match):
            found.append(path)
    return sorted(found)
