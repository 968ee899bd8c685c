"""The consent gate: the one place that decides whether a segment may leave the device, and that carries out a
revocation. Both happen under one lock.

A segment is sealed only if the consent record in force *right before sealing* covers its whole span (a live
grant), or it answers a request the homeowner approved. The record is read again under the lock, and a
revocation deletes the waiting live-grant segments under the same lock, so a segment is either already in the
outbox when consent is revoked (and deleted with the rest) or it is checked after the revocation (and never
sealed).

The daemon clamps every record to its own caps: a live grant longer than the profile's ``consent.max_live_hours``
(written by an older command, by hand, or under another profile) ends where the cap says.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from edge_agent.config.models import ConsentCaps
from edge_agent.consent.inbox import WITHDRAWN
from edge_agent.consent.state import LIVE_PREFIX, ConsentRecord, ConsentStore
from edge_agent.core.audit import AuditLog
from edge_agent.device.sealer import Sealer
from edge_agent.outbox.spool import Outbox, OutboxItem
from edge_agent.seal import SealedSegment
from edge_agent.segment.model import Segment

log = logging.getLogger(__name__)


def drop_live_grants(outbox: Outbox) -> list[OutboxItem]:
    """Withhold every segment a live grant covered (after a revocation): the waiting ones are deleted, and the kept
    copies of those already sent, so that they are never sent again. Returns the waiting ones."""
    return outbox.drop(lambda consent_id: consent_id.startswith(LIVE_PREFIX), "consent was revoked")


def clamp(record: ConsentRecord, caps: ConsentCaps) -> ConsentRecord:
    """``record`` with a live grant cut to ``caps.max_live_hours`` from its start; any other record as it is."""
    if record.mode != "live":
        return record
    latest = record.starts_at + caps.max_live_hours * 3600.0
    if record.expires_at is not None and record.expires_at <= latest:
        return record
    return dataclasses.replace(record, expires_at=latest)


class ConsentGate:
    """May this segment leave? Owned by the daemon; thread-safe."""

    def __init__(self, consent: ConsentStore, audit: AuditLog, sealer: Sealer | None, caps: ConsentCaps) -> None:
        self._consent = consent
        self._audit = audit
        self._sealer = sealer
        self._caps = caps
        self._lock = threading.Lock()
        self._clamped: set[str] = set()

    def set_caps(self, caps: ConsentCaps) -> None:
        """A reloaded profile's caps apply from the next check on."""
        with self._lock:
            self._caps = caps
            self._clamped.clear()

    def current(self) -> ConsentRecord:
        """The record in force, clamped to this device's caps."""
        record = self._consent.current()
        clamped = clamp(record, self._caps)
        if clamped is not record and record.id not in self._clamped:
            self._clamped.add(record.id)
            log.warning("consent %s runs past this profile's cap of %g h: it ends at the cap", record.id,
                        self._caps.max_live_hours)
            self._audit.note("consent_clamped", consent_id=record.id, expires_at=record.expires_at,
                             clamped_to=clamped.expires_at, max_live_hours=self._caps.max_live_hours)
        return clamped

    def covering(self, segment: Segment) -> ConsentRecord | None:
        record = self.current()
        return record if record.covers(segment.meta.start, segment.meta.end) else None

    def share(self, segment: Segment) -> SealedSegment | None:
        """Seal and spool ``segment`` if the record in force now covers it; None otherwise (or when not enrolled)."""
        if self._sealer is None:
            return None
        with self._lock:
            # Read now, not when the segment was cut: a revocation since then stops it here.
            record = self.covering(segment)
            if record is None:
                return None
            return self._sealer.seal(segment, record)

    def share_requested(self, segment: Segment, record: ConsentRecord) -> SealedSegment | None:
        """Seal a retained segment for a request the homeowner approved (``record`` names the request)."""
        if self._sealer is None:
            return None
        with self._lock:
            return self._sealer.seal(segment, record)

    def withhold_request(self, request_id: str) -> list[OutboxItem]:
        """An approval was withdrawn while its window was being sealed: none of those segments leaves."""
        if self._sealer is None:
            return []
        with self._lock:
            dropped = self._sealer.outbox.drop(lambda consent_id: consent_id == request_id, WITHDRAWN)
        if dropped:
            self._audit.note("outbox_revoked", consent_id=request_id, segments=[i.seq for i in dropped])
        return dropped

    def revoke(self, record: ConsentRecord) -> list[OutboxItem]:
        """Sharing stopped (``record`` is the new state): delete waiting live-grant segments, none being sealed."""
        if self._sealer is None:
            return []
        with self._lock:
            dropped = drop_live_grants(self._sealer.outbox)
        if dropped:
            log.info("revoked: %d waiting segment(s) deleted from the outbox", len(dropped))
            self._audit.note("outbox_revoked", consent_id=record.id, segments=[i.seq for i in dropped])
        return dropped
