"""Camera to crime center, end to end, on real parts: Mosquitto, x264, HPKE, Ed25519."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from edge_agent.segment.decode import decode_segment
from tests.integration.spine_helpers import CenterThread, grant_live, make_setup, run_device, wait_for


class Sniffer:
    """A raw MQTT client subscribed to everything: what the broker carries, byte for byte."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("#", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def on(self, suffix: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.messages if t.endswith(suffix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _evidence(center_root: Path) -> list[dict[str, object]]:
    path = center_root / "evidence.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _has_ts_sync(data: bytes) -> bool:
    """An MPEG-TS stream: 0x47 at the start of five consecutive 188-byte packets somewhere."""
    for offset in range(188):
        run = 0
        for pos in range(offset, len(data), 188):
            run = run + 1 if data[pos] == 0x47 else 0
            if run >= 5:
                return True
    return False


def _plaintext_markers(data: bytes) -> list[str]:
    """Structures of video or images that cannot occur in ciphertext by chance (each is 5+ fixed bytes)."""
    found = []
    if _has_ts_sync(data):
        found.append("MPEG-TS sync pattern")
    for nal in (b"\x00\x00\x00\x01\x67", b"\x00\x00\x00\x01\x65", b"\x00\x00\x01\x09\xf0"):
        if nal in data:
            found.append(f"H.264 NAL start code {nal.hex()}")
    for marker in (b"JFIF\x00", b"Exif\x00\x00", b"\x89PNG\r\n"):
        if marker in data:
            found.append(f"image signature {marker!r}")
    return found


@pytest.fixture
def live_run(tmp_path, mosquitto):
    """A device streaming live for 4 s to a subscribed center, with a sniffer on the broker."""
    setup = make_setup(tmp_path, mosquitto.url)
    grant_live(setup)
    sniffer = Sniffer(mosquitto.port)
    with CenterThread(setup) as center:
        summary = run_device(setup, duration=4.0)
        wait_for(lambda: len(_evidence(setup.center.root)) >= summary.shared, timeout=10)
    sniffer.close()
    return setup, summary, center, sniffer


def test_live_segments_arrive_verify_and_decode(live_run):
    setup, summary, center, _ = live_run
    assert summary.shared >= 2, summary
    records = _evidence(setup.center.root)
    assert len(records) == summary.shared
    assert center.counts["rejected"] == 0
    assert [r["seq"] for r in records] == list(range(len(records)))
    for prev, rec in itertools.pairwise(records):
        assert rec["prev_hash"] == prev["header_hash"]  # the chain links
    folder = setup.center.store / "test-device"
    for rec in records:
        assert rec["signature"] == "valid"
        frames = decode_segment((folder / str(rec["video"])).read_bytes())
        assert len(frames) == rec["frame_count"] > 0
        assert frames[0].shape == (180, 320, 3)


def test_neighbour_zone_is_filled_in_decoded_output(live_run):
    setup, _, _, _ = live_run
    folder = setup.center.store / "test-device"
    videos = sorted(folder.glob("*.ts"))
    assert videos
    for video in videos:
        for frame in decode_segment(video.read_bytes()):
            # The neighbour zone is x >= 0.70, y < 0.62 of 320x180; stay 4 px inside its edges (codec ringing).
            inside = frame[4 : int(0.62 * 180) - 4, int(0.70 * 320) + 4 : 320 - 4]
            assert inside.max() <= 12, f"neighbour zone not filled in {video.name}: max {inside.max()}"
            # And the rest of the picture is not blank: the scene is really there.
            assert frame[: int(0.62 * 180), : int(0.6 * 320)].std() > 5


def test_broker_carries_only_ciphertext(live_run):
    setup, summary, _, sniffer = live_run
    payloads = sniffer.on("/segments")
    assert len(payloads) >= summary.shared >= 2
    # What the center decrypted: no 24-byte run of it may appear in anything the broker carried.
    plaintexts = [p.read_bytes() for p in (setup.center.store / "test-device").glob("*.ts")]
    assert plaintexts
    rng = np.random.default_rng(0)
    for payload in payloads:
        assert _plaintext_markers(payload) == []
        for plain in plaintexts:
            for offset in rng.integers(0, len(plain) - 24, size=64):
                assert plain[offset : offset + 24] not in payload
        body = np.frombuffer(payload[-min(len(payload), 65536) :], dtype=np.uint8)
        counts = np.bincount(body, minlength=256)
        # Ciphertext is close to uniform; H.264 in MPEG-TS is far from it (0x47, 0xFF padding, zeros).
        assert counts.max() < 3 * counts.mean(), "segment payload does not look encrypted"


def test_tampered_and_truncated_payloads_are_rejected(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url)
    grant_live(setup)
    sniffer = Sniffer(mosquitto.port)
    run_device(setup, duration=2.5)
    assert wait_for(lambda: len(sniffer.on("/segments")) >= 1)
    good = sniffer.on("/segments")[0]
    sniffer.close()
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x01
    bad = [bytes(flipped), good[: len(good) - 100], good[:50], b"not an envelope"]
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    with CenterThread(setup) as center:
        for payload in bad:
            publisher.publish("rtcc/v1/test-device/segments", payload, qos=1).wait_for_publish(5)
        assert wait_for(lambda: center.counts["rejected"] >= len(bad))
    publisher.loop_stop()
    publisher.disconnect()
    assert center.counts["rejected"] == len(bad)
    assert center.counts["stored"] == 0
    assert _evidence(setup.center.root) == []
    assert not list((setup.center.store).glob("*/*.ts"))


def test_consent_off_publishes_nothing(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url)
    sniffer = Sniffer(mosquitto.port)
    summary = run_device(setup, duration=3.0)
    sniffer.close()
    assert summary.segments >= 1 and summary.frames > 0
    assert summary.shared == 0
    assert sniffer.on("/segments") == []
    assert not list(setup.device.outbox.glob("*")) or all(p.is_dir() for p in setup.device.outbox.iterdir())
