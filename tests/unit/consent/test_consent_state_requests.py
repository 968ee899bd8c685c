"""Consent records, request checks, retention at rest and the center's coverage rules, on real keys."""

from __future__ import annotations

import json
import time

import pytest

from edge_agent.center.consent_check import PENDING, Claim, ConsentBook
from edge_agent.center.keys import CenterPaths, DeviceRegistry, add_device, init_keys, load_keys
from edge_agent.config.identity import init_identity, load_identity
from edge_agent.config.loader import load_profile
from edge_agent.consent.inbox import Inbox
from edge_agent.consent.requests import make_request
from edge_agent.consent.retention import Retention
from edge_agent.consent.state import OFF_RECORD, ConsentStore, live_record, revoke_record, sign_record
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device.consent_gate import ConsentGate
from edge_agent.device.retention_worker import RetentionWorker
from edge_agent.errors import ConsentError
from edge_agent.seal.signed import sign_document
from edge_agent.segment.model import Segment, SegmentMeta

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def test_daily_hours_limit_a_live_grant():
    record = live_record(T0, T0 + 8 * 3600, OFF_RECORD, 8.0, daily="09:00-10:00")
    record = type(record)(**{**record.to_dict(), "utc_offset_min": 0})  # evaluate in UTC
    assert not record.covers(T0 + 10, T0 + 12)  # 08:00 UTC
    assert record.covers(T0 + 3600 + 10, T0 + 3600 + 12)  # 09:00 UTC
    assert not record.covers(T0 + 2 * 3600 + 10, T0 + 2 * 3600 + 12)  # 10:00 UTC


def test_grant_past_the_cap_is_refused():
    with pytest.raises(ConsentError, match="exceeds this profile's cap of 2 h"):
        live_record(T0, T0 + 3 * 3600, OFF_RECORD, 2.0)
    with pytest.raises(ConsentError, match="HH:MM-HH:MM"):
        live_record(T0, T0 + 3600, OFF_RECORD, 2.0, daily="9-10")


@pytest.fixture
def world(tmp_path):
    center = CenterPaths(tmp_path / "center")
    init_keys(center, "test-center")
    device = DevicePaths(tmp_path / "device")
    add_device(center, init_identity(device, "dev-unit"))
    return center, device


def _receive(device, payload, center_key, now, mode="on-request", cap=2.0):
    return Inbox(device).receive(payload, center_key=center_key, device_id="dev-unit", max_window_hours=cap,
                                 mode=mode, now=now)


def test_requests_are_checked_and_rejections_logged(world, tmp_path):
    center, device = world
    keys = load_keys(center)
    center_pub = keys.ed25519.public_key()
    good, signed = make_request(keys.ed25519, device_id="dev-unit", center_id="test-center", start=T0 - 600,
                                end=T0 - 60, case_id="CASE-1", reason="burglary", now=T0)
    entry = _receive(device, signed, center_pub, T0 + 1)
    assert entry.state == "pending" and entry.request == good
    other = CenterPaths(tmp_path / "other")
    init_keys(other, "other-center")
    _, forged = make_request(load_keys(other).ed25519, device_id="dev-unit", center_id="test-center",
                             start=T0 - 600, end=T0 - 60, case_id="CASE-2", reason="x", now=T0)
    _, stale = make_request(keys.ed25519, device_id="dev-unit", center_id="test-center", start=T0 - 600,
                            end=T0 - 60, case_id="CASE-3", reason="x", ttl_s=30, now=T0 - 100)
    _, wide = make_request(keys.ed25519, device_id="dev-unit", center_id="test-center", start=T0 - 4 * 3600,
                           end=T0, case_id="CASE-4", reason="x", now=T0)
    # Not authentic: refused without an answer (nothing proves who sent it).
    with pytest.raises(ConsentError, match="signature"):
        _receive(device, forged, center_pub, T0 + 2)
    # The same request again (a broker redelivering, a center sending it again): the same entry, no new one.
    assert _receive(device, signed, center_pub, T0 + 2) == entry
    # A different request reusing its nonce is a replay.
    replay = json.loads(signed)
    replay["doc"]["id"] = "r-" + "f" * 16
    replay["sig"] = json.loads(sign_document(replay["doc"], keys.ed25519))["sig"]
    with pytest.raises(ConsentError, match="replay"):
        _receive(device, json.dumps(replay, separators=(",", ":"), sort_keys=True).encode(), center_pub, T0 + 2)
    # Authentic but refused by the device itself: kept with the reason, so the center gets a signed refusal.
    _, fresh = make_request(keys.ed25519, device_id="dev-unit", center_id="test-center", start=T0 - 600,
                            end=T0 - 60, case_id="CASE-5", reason="x", now=T0)
    refusals = {why: _receive(device, payload, center_pub, T0 + 2, **kwargs)
                for payload, why, kwargs in [(stale, "stale", {}), (wide, "cap of 2 h", {}),
                                              (fresh, "consent is off", {"mode": "off"})]}
    for why, refused in refusals.items():
        assert refused.state == "refused" and why in refused.answer_reason and refused.answered_at is not None
    rejected = [e for e in AuditLog(device.audit).entries() if e["kind"] == "request_rejected"]
    assert len(rejected) == 5
    assert [e.state for e in Inbox(device).entries()] == ["pending", "refused", "refused", "refused"]


def test_unanswered_request_expires(world):
    center, device = world
    keys = load_keys(center)
    _, signed = make_request(keys.ed25519, device_id="dev-unit", center_id="c", start=T0 - 600, end=T0 - 60,
                             case_id="CASE-9", reason="x", ttl_s=60, now=T0)
    entry = _receive(device, signed, keys.ed25519.public_key(), T0 + 1)
    assert [e.id for e in Inbox(device).expire_due(T0 + 61)] == [entry.id]
    with pytest.raises(ConsentError, match="already expired"):
        Inbox(device).decide(entry.id, "approved", now=T0 + 62)


def _segment(seq, start, payload=b"\x47" * 188 * 4):
    meta = SegmentMeta("dev-unit", seq, start, start + 2.0, 20, 320, 180, 10.0, "video/mp2t", "")
    return Segment(meta, payload)


def test_retention_is_encrypted_at_rest_and_windows_are_exact(world):
    _, device = world
    identity = load_identity(device)
    retention = Retention(device, identity.signing_key, hours=1.0, max_bytes=1 << 30)
    marker = b"PLAINTEXT-MARKER" * 64
    for i in range(5):
        retention.keep(_segment(i, T0 + 2 * i, marker))
    for item in retention.items():
        assert marker[:16] not in item.path.read_bytes()
        assert item.path.stat().st_mode & 0o777 == 0o600
    window = retention.window(T0 + 2, T0 + 7)  # 1 and 2 lie inside, 3 (T0+6..T0+8) overlaps, 0 ends at T0+2
    assert [item.seq for item in window] == [1, 2, 3]
    assert [item.seq for item in retention.window(T0 + 2.5, T0 + 2.6)] == [1]
    assert retention.open(window[0]).data == marker
    assert len(retention.prune(now=T0 + 3600 + 5).expired) == 2  # ends at T0+2 and T0+4 are past the hour


def test_center_coverage_follows_revocation(world):
    center, device = world
    identity = load_identity(device)
    book = ConsentBook(center.root, DeviceRegistry(center.devices))
    grant = live_record(T0, T0 + 3600, OFF_RECORD, 8.0)
    assert book.check(Claim("dev-unit", grant.id, T0 + 10, T0 + 12)) == PENDING
    assert book.learn("dev-unit", "consent", sign_record(grant, "dev-unit", identity.signing_key)).status == "new"
    assert book.check(Claim("dev-unit", grant.id, T0 + 10, T0 + 12)) == ""
    revoked = revoke_record(T0 + 100, grant)
    assert book.learn("dev-unit", "consent", sign_record(revoked, "dev-unit", identity.signing_key)).status == "new"
    assert book.check(Claim("dev-unit", grant.id, T0 + 90, T0 + 92)) == ""
    assert "revoked" in book.check(Claim("dev-unit", grant.id, T0 + 99, T0 + 101))
    assert "revoked" in book.check(Claim("dev-unit", grant.id, T0 + 200, T0 + 202))
    assert "names no consent record" in book.check(Claim("dev-unit", "retained-local", T0 + 10, T0 + 12))
    forged = json.loads(sign_record(grant, "dev-unit", load_keys(center).ed25519))
    assert book.learn("dev-unit", "consent", json.dumps(forged).encode()).status == "refused"


def test_retention_cap_evicts_the_oldest_at_each_write_with_an_audit_entry(world):
    _, device = world
    identity = load_identity(device)
    profile, _ = load_profile(None)
    profile = profile.model_copy(
        update={"retention": profile.retention.model_copy(update={"max_bytes": 1 << 20, "hours": 72.0})}
    )
    consent = ConsentStore(device.consent)
    now = time.time()
    consent.write(live_record(now, now + 3600, OFF_RECORD, 8.0))
    audit = AuditLog(device.audit)
    retention = Retention(device, identity.signing_key, profile.retention.hours, profile.retention.max_bytes)
    worker = RetentionWorker(retention, ConsentGate(consent, audit, None, profile.consent), audit)
    payload = b"\x47" * (300 * 1024)
    for i in range(6):  # 6 x 300 KiB against a 1 MiB cap
        worker.keep(_segment(i, now - 60 + 2 * i, payload))
    kept = retention.items()
    assert sum(item.size for item in kept) <= 1 << 20
    assert [item.seq for item in kept] == [3, 4, 5]  # the newest stay, the oldest went first
    evictions = [e for e in audit.entries() if e["kind"] == "retention_evicted"]
    assert sum(e["count"] for e in evictions) == 3
    assert audit.verify().ok
