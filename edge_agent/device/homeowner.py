"""A homeowner's consent change, carried out on the device: the command line and the web page call these.

The record is written by :mod:`edge_agent.consent.api` (signed, audited). When sharing stops, the segments of a
live grant still waiting in the outbox are deleted here too (the running agent's consent gate does the same when
it sees the change; doing it here covers an agent that is not running), and the new state is published at once,
retained, on the consent topic when the device is enrolled, so the crime center sees a revocation within a
second even if the agent is busy.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from edge_agent.config.models import Profile, Zone
from edge_agent.consent import api
from edge_agent.consent.state import ConsentRecord, describe
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device.consent_gate import drop_live_grants
from edge_agent.device.uplink import publish_consent_once
from edge_agent.errors import ConsentError
from edge_agent.outbox.spool import Outbox
from edge_agent.redact.zonestore import ZoneStore, parse_zones


@dataclass(frozen=True, slots=True)
class ConsentChange:
    record: ConsentRecord
    summary: str  # describe(record): what is shared now, in words
    outbox_dropped: int = 0  # waiting segments of a revoked live grant that were deleted
    published: bool = False  # the retained consent message was updated on the broker just now
    withdrawn: tuple[str, ...] = ()  # approved requests not delivered yet, withdrawn by a revocation


def _apply(paths: DevicePaths, record: ConsentRecord, profile: Profile, now: float) -> ConsentChange:
    change = api.record_change(paths, record)
    dropped = 0
    if not record.is_live_at(now) and paths.outbox.exists():
        items = drop_live_grants(Outbox(paths.outbox, 1 << 62))
        if items:
            dropped = len(items)
            AuditLog(paths.audit).append("outbox_revoked", consent_id=record.id, segments=[i.seq for i in items])
    published = (
        change.signed is not None
        and change.device_id is not None
        and publish_consent_once(paths, profile, change.device_id, change.signed)
    )
    return ConsentChange(record, describe(record, now), dropped, published)


def grant_live(
    paths: DevicePaths, profile: Profile, *, until: float, daily: str = "", now: float | None = None
) -> ConsentChange:
    """Stream redacted video live until ``until`` (never open-ended; capped by ``consent.max_live_hours``)."""
    now = time.time() if now is None else now
    return _apply(paths, api.live_grant(paths, profile.consent, until=until, daily=daily, now=now), profile, now)


def set_on_request(paths: DevicePaths, profile: Profile, now: float | None = None) -> ConsentChange:
    now = time.time() if now is None else now
    return _apply(paths, api.on_request(paths, now), profile, now)


def revoke(paths: DevicePaths, profile: Profile, reason: str = "", now: float | None = None) -> ConsentChange:
    """Stop sharing now: consent off, waiting live segments deleted (and never sent again), approvals not delivered
    yet withdrawn (the running agent answers the center so), the retained message updated."""
    now = time.time() if now is None else now
    change = _apply(paths, api.revocation(paths, reason, now), profile, now)
    withdrawn = api.withdraw_approvals(paths, now)
    return dataclasses.replace(change, withdrawn=tuple(entry.id for entry in withdrawn))


def zones_in_force(paths: DevicePaths, profile: Profile) -> list[Zone]:
    """The zones the agent redacts with: the homeowner's saved zones, else the profile's."""
    return ZoneStore(paths.root, profile.zones).load()


def add_neighbour_zone(
    paths: DevicePaths, profile: Profile, name: str, points: list[tuple[float, float]], via: str = "cli"
) -> list[Zone]:
    """Draw a new neighbour zone (relative 0-1 points), saved and audited as the page saves zones; the running
    agent masks it from its next frame."""
    store = ZoneStore(paths.root, profile.zones)
    zones = store.load()
    if any(zone.name == name for zone in zones):
        raise ConsentError(f"a zone named {name!r} exists already: name it alone (--zone {name}) to answer with "
                           "it, or give the new zone another name")
    draft = [zone.model_dump() for zone in zones]
    draft.append({"name": name, "kind": "neighbour", "coordinates": [list(p) for p in points]})
    saved = parse_zones({"zones": draft})
    store.save(saved, AuditLog(paths.audit), via=via)
    return list(saved.zones)
