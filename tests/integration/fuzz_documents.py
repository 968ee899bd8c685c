"""Fuzz targets for every signed document and status message: correctly signed documents with hostile fields (a
compromised device, a buggy center tool) and mutated bytes, through the real receivers.

Contracts: the center's intake answers every consent record, answer, log head, resend answer and status message
with ``accepted`` or ``rejected``, never ``set-aside`` (which would mean one of its own checks raised) and never by
raising, and the repair's look at the chain after a status or log head never raises; the device's resender
raises only ``ConsentError`` for a resend request it refuses. Shared by the test suite's short run and
``bench/fuzz_run.py``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from edge_agent.center.files import write_private
from edge_agent.center.intake import Intake
from edge_agent.center.keys import DeviceRegistry, load_keys
from edge_agent.config.identity import load_identity
from edge_agent.consent.loghead import loghead_document
from edge_agent.consent.requests import make_request
from edge_agent.consent.resend import ResendAnswer, make_resend
from edge_agent.consent.state import OFF_RECORD, consent_document, live_record
from edge_agent.core.audit import AuditLog, LogHead
from edge_agent.core.paths import DevicePaths
from edge_agent.device.resender import Resender
from edge_agent.errors import ConsentError, SealError
from edge_agent.outbox.spool import Outbox
from edge_agent.seal.signed import sign_document
from edge_agent.transport.model import InboundMessage
from tests.integration.fuzz_targets import DEVICE, World, json_values, mutated

# The topic each kind of document arrives on at the center.
DEVICE_DOCS = {"consent": "consent", "answer": "answers", "loghead": "loghead", "resend-answer": "answers"}


@dataclass
class Documents:
    world: World
    intake: Intake
    resender: Resender
    docs: dict[str, dict[str, Any]]  # a valid document of each kind, to mutate
    signed: dict[str, bytes]
    device_key: Any


def make_documents(world: World) -> Documents:
    device = DevicePaths(world.root / "device")
    device_key = load_identity(device).signing_key
    keys = load_keys(world.center)
    now = time.time()
    request, signed_request = make_request(keys.ed25519, device_id=DEVICE, center_id="fuzz-center", start=now - 60,
                                           end=now - 10, case_id="case-a", reason="burglary", now=now)
    write_private(world.center.root / "requests" / DEVICE / f"{request.id}.json", signed_request)
    resend, signed_resend = make_resend(keys.ed25519, device_id=DEVICE, center_id="fuzz-center", seqs=[0, 1])
    docs: dict[str, dict[str, Any]] = {
        "consent": consent_document(live_record(now - 60, now + 3600, OFF_RECORD, 8.0), DEVICE),
        "answer": {"type": "answer", "device_id": DEVICE, "request_id": request.id, "case_id": "case-a",
                   "decision": "approved", "reason": "", "start": request.start, "end": request.end,
                   "answered_at": round(now, 3),
                   "segments": [{"seq": 0, "start": now - 50, "end": now - 49, "header_hash": "a" * 64}]},
        "loghead": loghead_document(LogHead(5, "a" * 64), DEVICE, now, 3),
        "resend-answer": ResendAnswer(DEVICE, resend.id, round(now, 3), (0,), ((1, "consent was revoked"),), (),
                                      ()).to_doc(),
        "status": {"device_id": DEVICE, "state": "online", "sharing": True, "detail": "", "time": round(now, 3),
                   "consent": {"id": "c-" + "0" * 16, "mode": "live", "expires_at": now + 60}, "shared_seq": 3},
    }
    signed = {kind: sign_document(doc, device_key) for kind, doc in docs.items() if kind in DEVICE_DOCS}
    signed["status"] = json.dumps(docs["status"]).encode()
    signed["resend"] = signed_resend
    docs["resend"] = resend.to_doc()
    intake = Intake(world.center, keys, DeviceRegistry(world.center.devices), "rtcc/v1")
    resender = Resender(Outbox(world.root / "fuzz-outbox", 1 << 30), AuditLog(world.root / "fuzz-audit.log"),
                        device_id=DEVICE,
                        signing_key=device_key, center_key=keys.ed25519.public_key(), next_seq=lambda: 2,
                        publish_answer=lambda _signed: None, notify=lambda: None)
    return Documents(world, intake, resender, docs, signed, device_key)


@st.composite
def hostile(draw: st.DrawFn, documents: Documents, kind: str) -> dict[str, Any]:
    """A document of ``kind`` with fields replaced, removed or added, of any type."""
    doc = dict(documents.docs[kind])
    keys = [*doc, "extra"]
    for key in draw(st.lists(st.sampled_from(keys), max_size=4)):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            doc.pop(key, None)
        else:
            doc[key] = draw(json_values)
    return doc


def raw(documents: Documents, kind: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=512), mutated([documents.signed[kind]]))


def center_document_target(documents: Documents, kind: str, doc: dict[str, Any] | None, data: bytes = b"") -> None:
    """A device document (signed with the device's real key) or status message through the center's intake."""

    def run() -> str:
        payload = data
        if doc is not None:
            if kind == "status":
                payload = json.dumps(doc).encode()
            else:
                try:
                    payload = sign_document(doc, documents.device_key)
                except SealError:
                    return "unsignable"
        topic = f"rtcc/v1/{DEVICE}/{DEVICE_DOCS.get(kind, kind)}"
        result = documents.intake.handle(InboundMessage(topic, payload, False))
        if result is None or result.status not in ("accepted", "rejected"):
            return f"CONTRACT VIOLATION ({None if result is None else result.status})"
        if kind in ("status", "loghead"):
            # How far the device says its chain goes feeds the repair, which runs on the ingest thread: a look at
            # the chain after each claim must stay quick, whatever number was claimed (timed with the input).
            documents.intake.repair.tick()
        return result.status

    documents.world.timed(kind, run)
    assert not any(k.startswith(f"{kind}: CONTRACT") for k in documents.world.outcomes)


def resend_target(documents: Documents, doc: dict[str, Any] | None, data: bytes = b"") -> None:
    """A resend request (signed with the center's real key, or mutated bytes) through the device's resender."""

    def run() -> str:
        payload = data
        if doc is not None:
            try:
                payload = sign_document(doc, documents.world.center_signing_key)
            except SealError:
                return "unsignable"
        try:
            documents.resender.receive(payload)
        except ConsentError:
            return "ConsentError"
        return "answered"

    documents.world.timed("resend", run)
