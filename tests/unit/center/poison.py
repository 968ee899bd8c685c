"""Thirty poison messages from a compromised but enrolled device: every one signed with the device's real key (or
sealed with it), each breaking the center in a different way before the intake was hardened.

Each entry is ``(kind, payload, label)``: ``kind`` is the topic kind it is published on.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.consent.state import ConsentRecord
from edge_agent.seal import Recipient, seal_segment
from edge_agent.seal.signed import sign_document
from edge_agent.segment.model import Segment, SegmentMeta

Poison = tuple[str, bytes, str]
HUGE = 10**400  # float(HUGE) raises OverflowError


def _record(now: float, **changes: Any) -> dict[str, Any]:
    record = ConsentRecord(f"c-{secrets.token_hex(8)}", "live", now, now, now + 3600)
    return {**dataclasses.asdict(record), **changes}


def _answer(device_id: str, request_id: str, now: float, **changes: Any) -> dict[str, Any]:
    doc = {"type": "answer", "device_id": device_id, "request_id": request_id, "case_id": "CASE-1",
           "decision": "approved", "reason": "", "start": now - 60, "end": now - 10, "answered_at": now,
           "segments": []}
    return {**doc, **changes}


def consent_poison(device_id: str, key: Ed25519PrivateKey, now: float) -> list[Poison]:
    docs = {
        "issued_at = 10**400": _record(now, issued_at=HUGE),
        "starts_at = -10**400": _record(now, starts_at=-HUGE),
        "expires_at = 10**400": _record(now, expires_at=HUGE),
        "live grant with expires_at null": _record(now, expires_at=None),
        "live grant of 30 days": _record(now, expires_at=now + 30 * 86400),
        "unknown mode": _record(now, mode="forever"),
        "id with a path in it": _record(now, id="../../evil"),
        "unknown field": _record(now, admin=True),
        "daily hours out of range": _record(now, daily="25:00-26:00"),
        "utc offset of 10**9 minutes": _record(now, utc_offset_min=10**9),
    }
    return [("consent", sign_document({"type": "consent", "device_id": device_id, **doc}, key), label)
            for label, doc in docs.items()]


def answer_poison(device_id: str, key: Ed25519PrivateKey, request_id: str, now: float) -> list[Poison]:
    docs = {
        "segments is a number": _answer(device_id, request_id, now, segments=5),
        "a listed segment without fields": _answer(device_id, request_id, now, segments=[{"seq": "x"}]),
        "unknown decision": _answer(device_id, request_id, now, decision="yes"),
        "answered_at = 10**400": _answer(device_id, request_id, now, answered_at=HUGE),
        "answer to a request never sent": _answer(device_id, f"r-{secrets.token_hex(8)}", now),
        "window ends before it starts": _answer(device_id, request_id, now, start=now, end=now - 100),
        "case id missing": {k: v for k, v in _answer(device_id, request_id, now).items() if k != "case_id"},
    }
    return [("answers", sign_document(doc, key), label) for label, doc in docs.items()]


def loghead(device_id: str, key: Ed25519PrivateKey, count: Any, last_hash: str, now: Any) -> bytes:
    return sign_document({"type": "loghead", "device_id": device_id, "count": count, "last_hash": last_hash,
                          "time": now}, key)


def loghead_poison(device_id: str, key: Ed25519PrivateKey, now: float) -> list[Poison]:
    """Expects a genuine head of 10 entries (``"a" * 64``) to be known already."""
    return [
        ("loghead", loghead(device_id, key, HUGE, "a" * 64, now), "count = 10**400"),
        ("loghead", loghead(device_id, key, 5, "b" * 64, now), "an old head replayed"),
        ("loghead", loghead(device_id, key, 10, "c" * 64, now), "a head conflicting with the known one"),
        ("loghead", loghead(device_id, key, 11, "zz", now), "last_hash not hex"),
        ("loghead", loghead(device_id, key, 12, "d" * 64, HUGE), "time = 10**400"),
    ]


def _sealed(meta: SegmentMeta, data: bytes, key: Ed25519PrivateKey, recipients: list[Recipient],
            consent_id: str) -> bytes:
    return seal_segment(Segment(meta, data), consent_id=consent_id, prev_hash="", signer=key,
                        recipients=recipients).blob


def segment_poison(
    device_id: str, key: Ed25519PrivateKey, recipients: list[Recipient], template: Segment, consent_id: str,
    other_device: str, now: float,
) -> list[Poison]:
    """Sealed with the device's real key; ``template`` is a genuine segment to take the video from."""
    meta = dataclasses.replace(template.meta, device_id=device_id, seq=10_000)
    concat = b"ffconcat version 1.0\nfile 'evidence.jsonl'\n"
    cases = {
        "start = -1e300": (dataclasses.replace(meta, start=-1e300), template.data),
        "end = 1e300": (dataclasses.replace(meta, start=now - 5, end=1e300), template.data),
        "ends before it starts": (dataclasses.replace(meta, start=now - 5, end=now - 50), template.data),
        "an ffconcat script": (dataclasses.replace(meta, content_type="application/x-ffconcat", frame_count=0),
                               concat),
        "frame count of 999": (dataclasses.replace(meta, frame_count=999), template.data),
        "claims another device's id": (dataclasses.replace(meta, device_id=other_device), template.data),
    }
    return [("segments", _sealed(m, data, key, recipients, consent_id), label) for label, (m, data) in cases.items()]


def status_poison(device_id: str, now: float) -> list[Poison]:
    return [
        ("status", b"\xff\xfe not json", "not JSON"),
        ("status", json.dumps({"device_id": device_id, "state": "hacked", "time": now}).encode(), "unknown state"),
    ]


def all_poison(
    device_id: str, key: Ed25519PrivateKey, recipients: list[Recipient], template: Segment, request_id: str,
    other_device: str, now: float | None = None,
) -> list[Poison]:
    now = time.time() if now is None else now
    out = [
        *consent_poison(device_id, key, now),
        *answer_poison(device_id, key, request_id, now),
        *loghead_poison(device_id, key, now),
        *segment_poison(device_id, key, recipients, template, "c-" + "0" * 16, other_device, now),
        *status_poison(device_id, now),
    ]
    assert len(out) == 30
    return out
