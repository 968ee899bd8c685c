"""The center refuses what a device did not send, or sent before: replayed segments, segments signed by a key it
has not enrolled, sequence numbers going backwards, timestamps in the future or the far past. Each is counted."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from edge_agent.center.ingest import MAX_AGE_S, Ingestor
from edge_agent.center.keys import CenterPaths, DeviceRegistry, load_keys
from edge_agent.center.ordering import BACKWARDS
from edge_agent.config.identity import center_recipient_keys, init_identity, load_enrollment, load_identity
from edge_agent.consent.state import ConsentStore
from edge_agent.core.paths import DevicePaths
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.seal import Recipient, SealedSegment, seal_segment
from edge_agent.seal.signed import sign_document
from edge_agent.segment.encoder import SegmentEncoder
from edge_agent.segment.model import Segment
from tests.integration.spine_helpers import CenterThread, Setup, grant_live, make_setup, wait_for

TOPIC = "rtcc/v1/test-device/segments"


@dataclass
class Device:
    """Seals real H.264 segments exactly as the device does, with the chain under the test's control."""

    paths: DevicePaths
    recipients: list[Recipient]
    device_id: str = "test-device"
    consent_id: str = "c-test"

    def segments(self, count: int, start: float) -> list[Segment]:
        encoder = SegmentEncoder(device_id=self.device_id, width=64, height=48, fps=10, seconds=0.5,
                                 profile_hash="0" * 64)
        out: list[Segment] = []
        rng = np.random.default_rng(len(self.paths.root.parts))
        for i in range(count * 5 + 1):
            image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            done = encoder.push(RedactedFrame(i, start + i / 10, image))
            if done is not None:
                out.append(done)
        return out[:count]

    def seal(self, segment: Segment, seq: int, prev_hash: str, identity_paths: DevicePaths | None = None,
             ) -> SealedSegment:
        signer = load_identity(identity_paths or self.paths).signing_key
        meta = dataclasses.replace(segment.meta, seq=seq)
        return seal_segment(Segment(meta, segment.data), consent_id=self.consent_id, prev_hash=prev_hash, signer=signer,
                            recipients=self.recipients)

    def chain(self, segments: list[Segment]) -> list[SealedSegment]:
        sealed: list[SealedSegment] = []
        prev = ""
        for seq, segment in enumerate(segments):
            sealed.append(self.seal(segment, seq, prev))
            prev = sealed[-1].header_hash
        return sealed


def _device(setup: Setup) -> Device:
    enrollment = load_enrollment(setup.device)
    assert enrollment is not None
    return Device(setup.device, [Recipient(k) for k in center_recipient_keys(enrollment)])


def _ingestor(center: CenterPaths) -> Ingestor:
    # The consent rules are tested with the consent book; these rules hold whatever consent says.
    return Ingestor(center, load_keys(center), DeviceRegistry(center.devices), "rtcc/v1", check_consent=False)


def _stored(center: CenterPaths) -> list[int]:
    return sorted(int(p.stem) for p in (center.store / "test-device").glob("*.json"))


def test_replay_is_never_stored_twice(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, "mqtt://127.0.0.1:1")
    device = _device(setup)
    sealed = device.chain(device.segments(3, time.time()))
    ingestor = _ingestor(setup.center)
    assert [ingestor.ingest(TOPIC, s.blob).status for s in sealed] == ["stored"] * 3
    evidence = (setup.center.root / "evidence.jsonl").read_text()
    # A replay is byte-identical to an honest QoS 1 resend: refused as a duplicate, counted, never stored again.
    for s in (sealed[1], sealed[0], sealed[1]):
        assert ingestor.ingest(TOPIC, s.blob).status == "duplicate"
    assert ingestor.counts["duplicate"] == 3
    assert (setup.center.root / "evidence.jsonl").read_text() == evidence
    assert _stored(setup.center) == [0, 1, 2]


def test_unenrolled_keys_are_rejected(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, "mqtt://127.0.0.1:1")
    device = _device(setup)
    segment = device.segments(1, time.time())[0]
    # Another key claiming to be the enrolled device, and a device the center never enrolled.
    impostor = DevicePaths(tmp_path / "impostor")
    init_identity(impostor, "test-device")
    stranger = DevicePaths(tmp_path / "stranger")
    init_identity(stranger, "stranger-device")
    stranger_device = Device(stranger, device.recipients, "stranger-device")
    ingestor = _ingestor(setup.center)
    forged = device.seal(segment, 0, "", identity_paths=impostor)
    assert ingestor.ingest(TOPIC, forged.blob).reason == "envelope rejected"
    unknown = stranger_device.seal(stranger_device.segments(1, time.time())[0], 0, "")
    result = ingestor.ingest("rtcc/v1/stranger-device/segments", unknown.blob)
    assert (result.status, result.reason) == ("rejected", "envelope rejected")
    assert ingestor.counts["rejected: envelope rejected"] == 2
    assert not setup.center.store.exists() or not any(setup.center.store.rglob("*.ts"))


def test_sequence_going_backwards_is_rejected(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, "mqtt://127.0.0.1:1")
    device = _device(setup)
    now = time.time()
    segments = device.segments(6, now)
    sealed = device.chain(segments[:4])
    ingestor = _ingestor(setup.center)
    for s in (sealed[0], sealed[1], sealed[3]):  # 2 is still on its way (another worker, a resend)
        assert ingestor.ingest(TOPIC, s.blob).status == "stored"
    # The device's data folder is restored from an old backup: it numbers new video from 2 again.
    rolled_back = device.seal(segments[4], 2, sealed[1].header_hash)
    assert (ingestor.ingest(TOPIC, rolled_back.blob).reason) == BACKWARDS
    reused = device.seal(segments[5], 1, sealed[0].header_hash)  # a number already stored
    assert ingestor.ingest(TOPIC, reused.blob).status == "rejected"
    # The genuine late segment 2 fits both neighbours and is stored.
    assert ingestor.ingest(TOPIC, sealed[2].blob).status == "stored"
    assert _stored(setup.center) == [0, 1, 2, 3]
    assert ingestor.counts["rejected"] == 2 and ingestor.counts[f"rejected: {BACKWARDS}"] == 1
    records = [json.loads(line) for line in (setup.center.root / "evidence.jsonl").read_text().splitlines()]
    assert {r["header_hash"] for r in records} == {s.header_hash for s in sealed}


def test_future_and_far_past_timestamps_are_rejected(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, "mqtt://127.0.0.1:1")
    device = _device(setup)
    now = time.time()
    future = device.chain(device.segments(1, now + 3600))[0]
    ingestor = _ingestor(setup.center)
    assert ingestor.ingest(TOPIC, future.blob, now=now).reason == "timestamp in the future"
    assert ingestor.ingest(TOPIC, future.blob, now=now + 3600 + MAX_AGE_S + 60).reason == "timestamp too old"
    assert ingestor.counts["rejected: timestamp in the future"] == 1
    assert ingestor.counts["rejected: timestamp too old"] == 1
    assert ingestor.ingest(TOPIC, future.blob, now=now + 3600).status == "stored"  # the same bytes, on time
    lines = (setup.center.root / "rejected.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == ["timestamp in the future", "timestamp too old"]


def test_rejections_through_the_broker_are_counted(tmp_path: Path, mosquitto) -> None:
    setup = make_setup(tmp_path, mosquitto.url)
    device = _device(setup)
    device.consent_id = grant_live(setup)
    record = ConsentStore(setup.device.consent).current()
    consent_doc = sign_document({"type": "consent", "device_id": "test-device", **record.to_dict()},
                                load_identity(setup.device).signing_key)
    segments = device.segments(3, time.time())
    sealed = device.chain(segments[:2])
    stranger = DevicePaths(tmp_path / "stranger")
    init_identity(stranger, "test-device")
    forged = device.seal(segments[2], 2, sealed[1].header_hash, identity_paths=stranger)
    backwards = device.seal(segments[2], 0, "")
    sends = [sealed[0].blob, sealed[1].blob, sealed[1].blob, forged.blob, backwards.blob]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    client.publish("rtcc/v1/test-device/consent", consent_doc, qos=1, retain=True).wait_for_publish(5)
    try:
        with CenterThread(setup) as center:
            for blob in sends:
                client.publish(TOPIC, blob, qos=1).wait_for_publish(5)
            assert wait_for(lambda: sum(center.counts[k] for k in ("stored", "duplicate", "rejected")) >= 5)
    finally:
        client.loop_stop()
        client.disconnect()
    assert (center.counts["stored"], center.counts["duplicate"], center.counts["rejected"]) == (2, 1, 2)
    assert _stored(setup.center) == [0, 1]
