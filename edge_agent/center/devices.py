"""The center's devices: withdrawing one, and what the center knows of each (online, consent, last segment,
completeness).

Withdrawing (``edge-center devices remove ID``) moves the device's identity file from ``devices/`` to
``withdrawn/``: the intake's allow-list no longer holds it, so its segments and documents are refused from the next
message on (a running subscriber checks the file on every message), while its stored evidence stays and stays
verifiable (``verify``, exports and bundles look in ``withdrawn/`` too). The time is kept beside it
(``withdrawn/<id>.withdrawn``). The broker should stop trusting its certificate as well (see the README).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.consent_check import read_doc
from edge_agent.center.files import DIR_MODE, write_private
from edge_agent.center.index import DeviceSummary
from edge_agent.center.keys import CenterPaths, DeviceRegistry
from edge_agent.center.presence import PresenceBook
from edge_agent.center.repair import read_state, settled_counts
from edge_agent.consent.state import ConsentRecord, record_from_dict
from edge_agent.core.files import make_dirs
from edge_agent.errors import CenterError, ConsentError
from edge_agent.transport.topics import check_device_id


def evidence_keys(paths: CenterPaths) -> DeviceRegistry:
    """Device keys for checking stored evidence: enrolled devices and withdrawn ones."""
    return DeviceRegistry(paths.devices, paths.withdrawn)


def withdraw_device(paths: CenterPaths, device_id: str, now: float | None = None) -> float:
    """Refuse ``device_id``'s messages from now on, keeping its evidence and key. Returns the time of withdrawal."""
    check_device_id(device_id)
    source = paths.devices / f"{device_id}.json"
    if not source.is_file():
        if (paths.withdrawn / f"{device_id}.json").is_file():
            raise CenterError(f"device {device_id} is already withdrawn")
        raise CenterError(f"device {device_id} is not enrolled here (edge-center devices list)")
    when = time.time() if now is None else now
    make_dirs(paths.withdrawn, DIR_MODE)
    write_private(paths.withdrawn / f"{device_id}.withdrawn", f"{when:.3f}\n".encode())
    os.replace(source, paths.withdrawn / f"{device_id}.json")
    return when


def withdrawn_at(paths: CenterPaths, device_id: str) -> float | None:
    try:
        return float((paths.withdrawn / f"{device_id}.withdrawn").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def withdrawn_ids(paths: CenterPaths) -> list[str]:
    folder = paths.withdrawn
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def enrolled_at(paths: CenterPaths, device_id: str) -> float | None:
    """When the device's identity was written here (its file's modification time: ``devices add`` writes it)."""
    for folder in (paths.devices, paths.withdrawn):
        try:
            return (folder / f"{device_id}.json").stat().st_mtime
        except FileNotFoundError:
            continue
    return None


class ConsentView:
    """Each device's current consent record, from the signed records the center has kept (``consent/<id>/``).

    Re-reads a device's folder only when it changed (its modification time), so the live wall can ask every second.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._cache: dict[str, tuple[int, ConsentRecord | None]] = {}

    def current(self, device_id: str) -> ConsentRecord | None:
        folder = self._root / "consent" / device_id
        try:
            stamp = folder.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        cached = self._cache.get(device_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        newest: ConsentRecord | None = None
        for path in folder.glob("c-*.json"):
            doc = read_doc(path)
            try:
                record = None if doc is None else record_from_dict(doc, path)
            except ConsentError:
                continue
            if record is not None and (newest is None or record.issued_at > newest.issued_at):
                newest = record
        self._cache[device_id] = (stamp, newest)
        return newest

    def record(self, device_id: str, record_id: str) -> ConsentRecord | None:
        doc = read_doc(self._root / "consent" / check_device_id(device_id) / f"{record_id}.json")
        try:
            return None if doc is None else record_from_dict(doc, record_id)
        except ConsentError:
            return None


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    enrolled: bool  # False: withdrawn
    online: bool
    since: float | None  # in its online/offline state since
    consent: str  # "live", "on-request", "off", or "unknown" (no record received)
    live_until: float | None  # while live: when the grant ends
    last_seq: int | None
    last_end: float | None  # end of the newest stored segment
    stored: int
    missing: int  # sequence numbers the center lacks, from 0 to the highest it holds or the device says it shared,
    # and knows nothing of yet: not withheld, not lost (the repair is still asking, edge_agent.center.repair)
    repaired: int = 0  # asked for again after they went missing, and stored
    withheld: int = 0  # the device withholds them: consent was revoked since they were shared
    lost: int = 0  # the device no longer has them, or never answered (the reason is in repair/<device>.json)

    @property
    def complete(self) -> bool:
        return self.missing == 0


def consent_state(record: ConsentRecord | None, now: float) -> tuple[str, float | None]:
    if record is None:
        return "unknown", None
    if record.is_live_at(now):
        return "live", record.expires_at
    return ("on-request" if record.mode == "on-request" else "off"), None


def device_statuses(
    paths: CenterPaths, summaries: dict[str, DeviceSummary], consent: ConsentView, now: float | None = None
) -> list[DeviceStatus]:
    now = time.time() if now is None else now
    presence = PresenceBook(paths.status)
    enrolled = DeviceRegistry(paths.devices).device_ids()
    out = []
    for device_id in sorted({*enrolled, *withdrawn_ids(paths)}):
        seen = presence.get(device_id)
        summary = summaries.get(device_id)
        state, until = consent_state(consent.current(device_id), now)
        # A device's chain starts at 0: whatever it says it shared (or the center holds beyond) and is not stored
        # here is missing.
        highest = max(seen.shared_seq if seen else -1, summary.last_seq if summary else -1)
        fates = settled_counts(read_state(paths, device_id), highest)
        missing = max(0, highest + 1 - (summary.segments if summary else 0) - fates.withheld - fates.lost)
        out.append(DeviceStatus(
            device_id=device_id, enrolled=device_id in enrolled, online=bool(seen and seen.online),
            since=seen.since if seen else None, consent=state, live_until=until,
            last_seq=summary.last_seq if summary else None, last_end=summary.last_end if summary else None,
            stored=summary.segments if summary else 0, missing=missing, repaired=fates.repaired,
            withheld=fates.withheld, lost=fates.lost,
        ))
    return out
