"""The homeowner's actions, as plain functions over the data folder: the command line and the web page call
these same functions, so both write the same signed records and the same audit entries.

Each change is written to ``consent.json`` (the running agent picks it up at its next frame, publishes it and
drops waiting segments of a revoked live grant) and is also published at once, retained, on the consent topic
when the device is enrolled, so the crime center sees a revocation within a second even if the agent is busy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from edge_agent.config.models import Profile
from edge_agent.consent.audit import AuditLog, VerifyResult
from edge_agent.consent.requests import Inbox, InboxEntry
from edge_agent.consent.service import read_local_head
from edge_agent.consent.state import (
    ConsentRecord,
    ConsentStore,
    describe,
    live_record,
    on_request_record,
    revoke_record,
    sign_record,
)
from edge_agent.errors import ConsentError, EdgeAgentError
from edge_agent.identity import DevicePaths, load_enrollment, load_identity
from edge_agent.outbox.spool import Outbox
from edge_agent.sharing import drop_live_grants
from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.topics import Topics

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class ConsentChange:
    record: ConsentRecord
    summary: str  # describe(record): what is shared now, in words
    outbox_dropped: int = 0  # waiting segments of a revoked live grant that were deleted
    published: bool = False  # the retained consent message was updated on the broker just now


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    record: ConsentRecord
    summary: str
    sharing_now: bool
    pending_requests: int


def consent_status(paths: DevicePaths, now: float | None = None) -> ConsentStatus:
    now = time.time() if now is None else now
    record = ConsentStore(paths.consent).current()
    pending = sum(1 for e in Inbox(paths).entries() if e.state == "pending" and now < e.request.expires_at)
    return ConsentStatus(record, describe(record, now), record.is_live_at(now), pending)


def _apply(paths: DevicePaths, record: ConsentRecord, profile: Profile, now: float) -> ConsentChange:
    store = ConsentStore(paths.consent)
    signed = None
    device_id = None
    if paths.signing_key.exists():
        identity = load_identity(paths)
        device_id = identity.device_id
        signed = sign_record(record, identity.device_id, identity.signing_key)
    store.write(record, signed)
    audit = AuditLog(paths.audit)
    audit.append("consent_change", consent_id=record.id, mode=record.mode, expires_at=record.expires_at,
                 daily=record.daily, replaces=record.replaces)
    dropped = 0
    if not record.is_live_at(now) and paths.outbox.exists():
        # The agent drops them too when it sees the change; doing it here covers an agent that is not running.
        items = drop_live_grants(Outbox(paths.outbox, 1 << 62))
        if items:
            dropped = len(items)
            audit.append("outbox_revoked", consent_id=record.id, segments=[i.seq for i in items])
    published = signed is not None and device_id is not None and _publish_now(paths, profile, device_id, signed)
    return ConsentChange(record, describe(record, now), dropped, published)


def _publish_now(paths: DevicePaths, profile: Profile, device_id: str, signed: bytes) -> bool:
    enrollment = load_enrollment(paths)
    if enrollment is None:
        return False
    topics = Topics(profile.mqtt.topic_prefix, device_id)
    link = MqttLink(enrollment.broker, client_id=f"{device_id}-consent-{time.monotonic_ns() % 10**6}",
                    tls=enrollment.tls)
    try:
        link.connect(timeout=PUBLISH_TIMEOUT_S)
        link.start()
        result = link.publish(topics.consent, signed, qos=1, retain=True, content_type="application/json")
        return result.wait(PUBLISH_TIMEOUT_S)
    except EdgeAgentError as exc:
        log.warning("consent saved; the agent publishes it when it reaches the broker (%s)", exc)
        return False
    finally:
        link.stop()


def grant_live(
    paths: DevicePaths, profile: Profile, *, until: float, daily: str = "", now: float | None = None
) -> ConsentChange:
    """Stream redacted video live until ``until`` (never open-ended; capped by ``consent.max_live_hours``)."""
    now = time.time() if now is None else now
    previous = ConsentStore(paths.consent).current()
    record = live_record(now, until, previous, profile.consent.max_live_hours, daily)
    return _apply(paths, record, profile, now)


def set_on_request(paths: DevicePaths, profile: Profile, now: float | None = None) -> ConsentChange:
    now = time.time() if now is None else now
    return _apply(paths, on_request_record(now, ConsentStore(paths.consent).current()), profile, now)


def revoke(paths: DevicePaths, profile: Profile, reason: str = "", now: float | None = None) -> ConsentChange:
    """Stop sharing now: consent off, waiting live segments deleted, the retained message updated."""
    now = time.time() if now is None else now
    return _apply(paths, revoke_record(now, ConsentStore(paths.consent).current(), reason), profile, now)


def list_requests(paths: DevicePaths, now: float | None = None) -> list[InboxEntry]:
    inbox = Inbox(paths)
    inbox.expire_due(time.time() if now is None else now)
    return inbox.entries()


def show_request(paths: DevicePaths, request_id: str) -> InboxEntry:
    return Inbox(paths).get(request_id)


def approve_request(paths: DevicePaths, request_id: str, now: float | None = None) -> InboxEntry:
    """Approve: the running agent publishes exactly the window's segments from retention, then the answer."""
    return Inbox(paths).decide(request_id, "approved", now=now)


def deny_request(paths: DevicePaths, request_id: str, reason: str = "", now: float | None = None) -> InboxEntry:
    return Inbox(paths).decide(request_id, "denied", reason, now=now)


def audit_entries(paths: DevicePaths) -> list[dict[str, object]]:
    return list(AuditLog(paths.audit).entries())


def verify_audit(paths: DevicePaths) -> VerifyResult:
    """Check the chain, and against the last signed log head so that a log cut short is caught too."""
    if not paths.audit.exists():
        raise ConsentError(f"{paths.audit}: no audit log yet")
    return AuditLog(paths.audit).verify(read_local_head(paths))
