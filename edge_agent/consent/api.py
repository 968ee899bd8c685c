"""The homeowner's consent and request actions on the data folder, pure of the network and the outbox.

The command line and the web page reach these through :mod:`edge_agent.device.homeowner`, which adds what the
device does about a change (deleting waiting live segments, telling the broker at once). Here a change is only
written: the signed record to ``consent.json`` (the running agent picks it up at its next frame) and its audit
entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from edge_agent.config.identity import load_identity
from edge_agent.config.models import ConsentCaps, Zone
from edge_agent.consent.inbox import Inbox, InboxEntry
from edge_agent.consent.loghead import read_local_head
from edge_agent.consent.masking_inbox import MaskingEntry, MaskingInbox
from edge_agent.consent.state import (
    ConsentRecord,
    ConsentStore,
    describe,
    live_record,
    on_request_record,
    revoke_record,
    sign_record,
)
from edge_agent.core.audit import AuditLog, VerifyResult
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConsentError


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    record: ConsentRecord
    summary: str
    sharing_now: bool
    pending_requests: int


@dataclass(frozen=True, slots=True)
class RecordedChange:
    """A consent record as written: ``signed`` is its signed form (the consent message), when the device has
    an identity to sign it with."""

    record: ConsentRecord
    signed: bytes | None
    device_id: str | None


@dataclass(frozen=True, slots=True)
class WaitingItem:
    """Something that waits for the homeowner's answer: a police request, or a neighbour's masking request."""

    kind: Literal["police", "masking"]
    id: str
    label: str  # the case id, or the property to mask, as received (show it through core.text.shown)
    answer_by: float
    received_at: float


def waiting(paths: DevicePaths, now: float | None = None) -> list[WaitingItem]:
    """Every request still waiting for an answer, oldest first. Reads only: expiring is the agent's job."""
    now = time.time() if now is None else now
    items = [
        WaitingItem("police", e.id, e.request.case_id, e.request.expires_at, e.received_at)
        for e in Inbox(paths).entries() if e.state == "pending" and now < e.request.expires_at
    ]
    items += [
        WaitingItem("masking", e.id, e.request.property, e.request.respond_by, e.received_at)
        for e in MaskingInbox(paths).entries() if e.state == "pending" and now < e.request.respond_by
    ]
    return sorted(items, key=lambda item: item.received_at)


def consent_status(paths: DevicePaths, now: float | None = None) -> ConsentStatus:
    now = time.time() if now is None else now
    record = ConsentStore(paths.consent).current()
    pending = sum(1 for item in waiting(paths, now) if item.kind == "police")
    return ConsentStatus(record, describe(record, now), record.is_live_at(now), pending)


def record_change(paths: DevicePaths, record: ConsentRecord) -> RecordedChange:
    """Write ``record`` (signed when the device has an identity) and its ``consent_change`` audit entry."""
    signed = None
    device_id = None
    if paths.signing_key.exists():
        identity = load_identity(paths)
        device_id = identity.device_id
        signed = sign_record(record, identity.device_id, identity.signing_key)
    ConsentStore(paths.consent).write(record, signed)
    AuditLog(paths.audit).append("consent_change", consent_id=record.id, mode=record.mode,
                                 expires_at=record.expires_at, daily=record.daily, replaces=record.replaces)
    return RecordedChange(record, signed, device_id)


def live_grant(paths: DevicePaths, caps: ConsentCaps, *, until: float, daily: str, now: float) -> ConsentRecord:
    """A live grant until ``until`` (never open-ended; capped by ``consent.max_live_hours``)."""
    previous = ConsentStore(paths.consent).current()
    return live_record(now, until, previous, caps.max_live_hours, daily)


def on_request(paths: DevicePaths, now: float) -> ConsentRecord:
    return on_request_record(now, ConsentStore(paths.consent).current())


def revocation(paths: DevicePaths, reason: str, now: float) -> ConsentRecord:
    return revoke_record(now, ConsentStore(paths.consent).current(), reason)


def withdraw_approvals(paths: DevicePaths, now: float | None = None) -> list[InboxEntry]:
    """After a revocation: every approved request not delivered yet is withdrawn (the agent answers so)."""
    return Inbox(paths).withdraw_undelivered(now)


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


def list_masking(paths: DevicePaths, now: float | None = None) -> list[MaskingEntry]:
    inbox = MaskingInbox(paths)
    inbox.expire_due(time.time() if now is None else now)
    return inbox.entries()


def show_masking(paths: DevicePaths, request_id: str) -> MaskingEntry:
    return MaskingInbox(paths).get(request_id)


def mask_for_neighbour(paths: DevicePaths, request_id: str, zone_names: list[str], zones_in_force: list[Zone],
                       now: float | None = None) -> MaskingEntry:
    """Answer a neighbour: these neighbour zones (in force) now mask their property. The running agent sends the
    signed answer with a redacted still made under them."""
    return MaskingInbox(paths).mask(request_id, zone_names, zones_in_force, now)


def decline_masking(paths: DevicePaths, request_id: str, reason: str, now: float | None = None) -> MaskingEntry:
    return MaskingInbox(paths).decline(request_id, reason, now)


def audit_entries(paths: DevicePaths) -> list[dict[str, object]]:
    return list(AuditLog(paths.audit).entries())


def verify_audit(paths: DevicePaths) -> VerifyResult:
    """Check the chain, and against the last signed log head so that a log cut short is caught too."""
    if not paths.audit.exists():
        raise ConsentError(f"{paths.audit}: no audit log yet")
    return AuditLog(paths.audit).verify(read_local_head(paths))
