"""A center holding real evidence of two devices, put through the real intake (no broker: the messages are handed
to :class:`Intake` as the subscriber would), with the evidence index listening.

- ``door-a`` shared 6 live segments under a signed live consent record;
- ``door-b`` answered a police request for case ``CASE-7`` (signed by the center) with a signed approval listing
  its 3 segments, sealed under the request id.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.db import use_database
from edge_agent.center.files import write_private
from edge_agent.center.indexer import SegmentIndexer
from edge_agent.center.intake import Intake
from edge_agent.center.keys import CenterPaths, DeviceRegistry, add_device, init_keys, load_keys
from edge_agent.center.services import Center
from edge_agent.config.identity import init_identity, load_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.consent.requests import make_request
from edge_agent.consent.state import OFF_RECORD, live_record
from edge_agent.core.paths import DevicePaths
from edge_agent.seal import Recipient, seal_segment
from edge_agent.seal.signed import sign_document
from edge_agent.segment.model import Segment
from edge_agent.transport.model import InboundMessage
from tests.unit.center.center_helpers import raw_segments

LIVE, ASKED, CASE = "door-a", "door-b", "CASE-7"


@dataclass
class CaseWorld:
    paths: CenterPaths
    devices: dict[str, DevicePaths]
    t0: float
    consent_id: str
    request_id: str
    intake: Intake
    recipient: Recipient

    def open(self) -> Center:
        return Center.open(self.paths)

    def send(self, device: str, kind: str, payload: bytes) -> str:
        result = self.intake.handle(InboundMessage(f"rtcc/v1/{device}/{kind}", payload, retain=False))
        assert result is not None
        return result.status


def seal_chain(device: DevicePaths, device_id: str, recipient: Recipient, consent_id: str, start: float,
               count: int) -> list[tuple[bytes, str, int]]:
    """``count`` chained, sealed segments of real H.264: (blob, header hash, seq)."""
    signer = load_identity(device).signing_key
    out, prev = [], ""
    for seq, segment in enumerate(raw_segments(count, start, device_id)):
        sealed = seal_segment(Segment(dataclasses.replace(segment.meta, seq=seq), segment.data),
                              consent_id=consent_id, prev_hash=prev, signer=signer, recipients=[recipient])
        out.append((sealed.blob, sealed.header_hash, seq))
        prev = sealed.header_hash
    return out


def make_world(tmp: Path, live_segments: int = 6, database: str | None = None) -> CaseWorld:
    """``database``: a PostgreSQL URL for the center's index (default: SQLite in its folder)."""
    paths = CenterPaths(tmp / "center")
    _, x25519, _ = load_center_identity(init_keys(paths, "case-center"))
    if database:
        use_database(paths, database)
    recipient = Recipient(x25519)
    devices = {name: DevicePaths(tmp / name) for name in (LIVE, ASKED)}
    for name, device in devices.items():
        add_device(paths, init_identity(device, name))
    intake = Intake(paths, load_keys(paths), DeviceRegistry(paths.devices), "rtcc/v1")
    intake.ingestor.on_result = SegmentIndexer(paths)
    t0 = round(time.time() - 900.0)
    world = CaseWorld(paths, devices, t0, "", "", intake, recipient)
    # door-a: a live grant, then its segments.
    record = live_record(t0 - 5, t0 + 3600, OFF_RECORD, 8.0)
    live_key = load_identity(devices[LIVE]).signing_key
    assert world.send(LIVE, "consent", sign_document({"type": "consent", "device_id": LIVE, **record.to_dict()},
                                                     live_key)) == "accepted"
    for blob, _, _ in seal_chain(devices[LIVE], LIVE, recipient, record.id, t0, live_segments):
        assert world.send(LIVE, "segments", blob) == "stored"
    # door-b: the center's request for case CASE-7, the device's approval, then the segments it lists.
    request, signed = make_request(load_keys(paths).ed25519, device_id=ASKED, center_id="case-center", start=t0,
                                   end=t0 + 60, case_id=CASE, reason="burglary next door", legal_basis="warrant 7")
    write_private(paths.root / "requests" / ASKED / f"{request.id}.json", signed)
    with Center.open(paths) as center:
        center.index.add_request(request, "inv-one")
    chain = seal_chain(devices[ASKED], ASKED, recipient, request.id, t0 + 10, 3)
    answer = {"type": "answer", "device_id": ASKED, "request_id": request.id, "case_id": CASE,
              "decision": "approved", "reason": "", "start": request.start, "end": request.end,
              "answered_at": time.time(),
              "segments": [{"seq": seq, "start": t0 + 10 + seq * 0.5, "end": t0 + 10.5 + seq * 0.5,
                            "header_hash": h} for _, h, seq in chain]}
    asked_key = load_identity(devices[ASKED]).signing_key
    assert world.send(ASKED, "answers", sign_document(answer, asked_key)) == "accepted"
    for blob, _, _ in chain:
        assert world.send(ASKED, "segments", blob) == "stored"
    return dataclasses.replace(world, consent_id=record.id, request_id=request.id)
