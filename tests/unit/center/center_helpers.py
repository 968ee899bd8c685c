"""A center with one enrolled device that seals real x264 segments, for the center's unit tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.center.ingest import Ingestor
from edge_agent.center.intake import Intake
from edge_agent.center.keys import CenterPaths, DeviceRegistry, add_device, init_keys, load_keys
from edge_agent.config.identity import init_identity, load_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.consent.state import ConsentStore, live_record
from edge_agent.core.paths import DevicePaths
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.seal import Recipient, seal_segment
from edge_agent.seal.signed import sign_document
from edge_agent.segment.encoder import SegmentEncoder
from edge_agent.segment.model import Segment

DEVICE = "unit-device"
TOPIC = f"rtcc/v1/{DEVICE}/segments"


@dataclass
class Bench:
    center: CenterPaths
    device: DevicePaths
    recipients: list[Recipient]

    def ingestor(self, *, durable: bool) -> Ingestor:
        return Ingestor(self.center, load_keys(self.center), DeviceRegistry(self.center.devices), "rtcc/v1",
                        check_consent=False, durable=durable)

    def grant(self, start: float, end: float) -> tuple[str, bytes]:
        """A live consent record covering ``start``..``end``, signed as the device publishes it."""
        record = live_record(start, end, ConsentStore(self.device.consent).current(), 8.0)
        doc = {"type": "consent", "device_id": DEVICE, **record.to_dict()}
        return record.id, sign_document(doc, load_identity(self.device).signing_key)

    def intake(self, *, durable: bool = True, check_consent: bool = True) -> Intake:
        return Intake(self.center, load_keys(self.center), DeviceRegistry(self.center.devices), "rtcc/v1",
                      durable=durable, check_consent=check_consent)

    def enroll(self, device_id: str) -> DevicePaths:
        """Another device enrolled with this center."""
        device = DevicePaths(self.device.root.parent / device_id)
        add_device(self.center, init_identity(device, device_id))
        return device

    def sealed(self, count: int, start: float, consent_id: str = "c-unit", device: DevicePaths | None = None,
               device_id: str = DEVICE) -> list[bytes]:
        """``count`` chained segments (seq 0..count-1) of real H.264, sealed as the device does."""
        signer = load_identity(device or self.device).signing_key
        blobs, prev = [], ""
        for seq, segment in enumerate(raw_segments(count, start, device_id)):
            meta = dataclasses.replace(segment.meta, seq=seq)
            sealed = seal_segment(Segment(meta, segment.data), consent_id=consent_id, prev_hash=prev, signer=signer,
                                  recipients=self.recipients)
            blobs.append(sealed.blob)
            prev = sealed.header_hash
        return blobs


def raw_segments(count: int, start: float, device_id: str = DEVICE) -> list[Segment]:
    """``count`` segments of real H.264 (0.5 s each, 64x48), not sealed."""
    encoder = SegmentEncoder(device_id=device_id, width=64, height=48, fps=10, seconds=0.5, profile_hash="0" * 64)
    rng = np.random.default_rng(7)
    segments: list[Segment] = []
    for i in range(count * 5 + 1):
        done = encoder.push(RedactedFrame(i, start + i / 10, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)))
        if done is not None:
            segments.append(done)
    return segments[:count]


def make_bench(tmp: Path) -> Bench:
    center = CenterPaths(tmp / "center")
    center_pub = init_keys(center, "unit-center")
    device = DevicePaths(tmp / "device")
    add_device(center, init_identity(device, DEVICE))
    _, x25519, _ = load_center_identity(center_pub)
    return Bench(center, device, [Recipient(x25519)])
