"""Resend requests on the device: only the enrolled center may ask, only what was shared and still stands is sent
again (byte for byte), a revoked grant's segments are withheld, what is gone is lost with its reason, the rate is
bounded, and both the request and the answer are audited."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge_agent.center.keys import CenterPaths, init_keys, load_keys
from edge_agent.config.identity import load_identity
from edge_agent.consent.resend import make_resend, parse_resend_answer
from edge_agent.core.audit import AuditLog
from edge_agent.device import resender as resender_module
from edge_agent.device.resender import Resender
from edge_agent.errors import ConsentError
from edge_agent.outbox.spool import Outbox
from edge_agent.seal.signed import verify_document
from tests.unit.center.center_helpers import make_bench

DEVICE = "unit-device"
TOPIC = f"rtcc/v1/{DEVICE}/segments"


@pytest.fixture
def world(tmp_path: Path):
    bench = make_bench(tmp_path)
    keys = load_keys(bench.center)
    identity = load_identity(bench.device)
    outbox = Outbox(bench.device.outbox, 1 << 30)
    published: list[bytes] = []
    audit = AuditLog(bench.device.audit)
    resender = Resender(outbox, audit, device_id=DEVICE, signing_key=identity.signing_key,
                        center_key=keys.ed25519.public_key(), next_seq=lambda: 6, publish_answer=published.append,
                        notify=lambda: None)
    blobs = bench.sealed(6, time.time() - 30, consent_id="c-" + "1" * 16)
    return bench, keys, outbox, resender, published, audit, identity, blobs


def _share(outbox: Outbox, blobs: list[bytes], consents: list[str]) -> None:
    for seq, (blob, consent) in enumerate(zip(blobs, consents, strict=True)):
        outbox.put(seq, TOPIC, consent, blob)
    for item in outbox.pending():
        outbox.ack(item)


def test_each_asked_segment_gets_its_fate(world) -> None:
    _, keys, outbox, resender, published, audit, identity, blobs = world
    live, other = "c-" + "1" * 16, "c-" + "2" * 16
    _share(outbox, blobs[:5], [live, live, other, other, live])
    outbox.drop(lambda consent_id: consent_id == other, "consent was revoked")  # 2 and 3 withheld
    outbox.archive.note(4, "lost", "evicted from the outbox at its cap")
    _, signed = make_resend(keys.ed25519, device_id=DEVICE, center_id="unit-center", seqs=[0, 1, 2, 3, 4, 5, 9])
    answer = resender.receive(signed)
    assert answer.resent == (0, 1)
    assert [s for s, _ in answer.withheld] == [2, 3] and "revoked" in answer.withheld[0][1]
    lost = dict(answer.lost)
    assert "evicted" in lost[4] and "not kept" in lost[5] and "beyond the end" in lost[9]
    # The resent ones are back in the outbox, byte for byte as first sent.
    assert [outbox.read(item) for item in outbox.pending()] == blobs[:2]
    [wire] = published
    assert parse_resend_answer(verify_document(wire, identity.signing_key.public_key())) == answer
    kinds = [e["kind"] for e in audit.entries()]
    assert kinds[-2:] == ["resend_requested", "resend_answered"]


def test_only_the_enrolled_center_may_ask_and_only_once(world, tmp_path: Path) -> None:
    _, keys, outbox, resender, published, audit, _, blobs = world
    _share(outbox, blobs[:1], ["c-" + "1" * 16])
    other = CenterPaths(tmp_path / "impostor")
    init_keys(other, "impostor")
    _, forged = make_resend(load_keys(other).ed25519, device_id=DEVICE, center_id="x", seqs=[0])
    _, elsewhere = make_resend(keys.ed25519, device_id="another-device", center_id="x", seqs=[0])
    _, stale = make_resend(keys.ed25519, device_id=DEVICE, center_id="x", seqs=[0], ttl_s=10,
                           now=time.time() - 60)
    for payload, why in [(forged, "signature"), (elsewhere, "another device"), (stale, "stale")]:
        with pytest.raises(ConsentError, match=why):
            resender.receive(payload)
    _, signed = make_resend(keys.ed25519, device_id=DEVICE, center_id="x", seqs=[0])
    resender.receive(signed)
    with pytest.raises(ConsentError, match="replay"):
        resender.receive(signed)
    assert len(published) == 1
    assert [e["kind"] for e in audit.entries()].count("resend_rejected") == 4
    assert [i.seq for i in outbox.pending()] == [0]  # sent again once, not twice


def test_resends_are_rate_limited(world, monkeypatch: pytest.MonkeyPatch) -> None:
    _, keys, outbox, resender, _, _, _, blobs = world
    monkeypatch.setattr(resender_module, "RATE_SEGMENTS", 3)
    _share(outbox, blobs[:5], ["c-" + "1" * 16] * 5)
    _, signed = make_resend(keys.ed25519, device_id=DEVICE, center_id="x", seqs=[0, 1, 2, 3, 4])
    answer = resender.receive(signed)
    assert answer.resent == (0, 1, 2) and answer.deferred == (3, 4)
    for item in outbox.pending():
        outbox.ack(item)
    _, again = make_resend(keys.ed25519, device_id=DEVICE, center_id="x", seqs=[3, 4])
    assert resender.receive(again).deferred == (3, 4)  # still inside the window
    later = resender.answer(_request(keys, [3, 4]), time.time() + resender_module.RATE_WINDOW_S + 1)
    assert later.resent == (3, 4)


def _request(keys, seqs):
    request, _ = make_resend(keys.ed25519, device_id=DEVICE, center_id="x", seqs=seqs)
    return request


def test_a_resend_answer_is_a_strict_document() -> None:
    base = {"type": "resend-answer", "device_id": DEVICE, "request_id": "s-" + "0" * 16, "answered_at": 1.0e9,
            "resent": [1], "withheld": [{"seq": 2, "reason": "revoked"}], "lost": [], "deferred": []}
    parse_resend_answer(base)
    for change in ({"resent": [1, 1]}, {"lost": [{"seq": 1, "reason": "x"}]}, {"resent": 5},
                   {"withheld": [{"seq": -1, "reason": "x"}]}, {"answered_at": 10**400}, {"extra": True},
                   {"resent": list(range(65))}):
        with pytest.raises(ConsentError):
            parse_resend_answer({**base, **change})
    assert json.loads(json.dumps(base))  # plain JSON
