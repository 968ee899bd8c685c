"""The MQTT link and part reassembly against a real Mosquitto."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge_agent.errors import TransportError
from edge_agent.outbox.drain import OutboxPublisher
from edge_agent.outbox.spool import Outbox
from edge_agent.transport.mqtt import InboundMessage, MqttLink, TlsSettings, Will
from edge_agent.transport.parts import PART
from edge_agent.transport.reassembly import Reassembler
from edge_agent.transport.topics import Topics, segments_filter

WAIT = 10.0


class Inbox:
    """Collects messages delivered on paho's network thread."""

    def __init__(self) -> None:
        self.messages: queue.Queue[InboundMessage] = queue.Queue()

    def __call__(self, msg: InboundMessage) -> None:
        self.messages.put(msg)

    def get(self, timeout: float = WAIT) -> InboundMessage:
        return self.messages.get(timeout=timeout)


@pytest.fixture
def links() -> Iterator[list[MqttLink]]:
    made: list[MqttLink] = []
    yield made
    for link in made:
        link.stop(flush_timeout=0)


def _link(links: list[MqttLink], url: str, client_id: str, **kwargs: object) -> MqttLink:
    link = MqttLink(url, client_id=client_id, **kwargs)  # type: ignore[arg-type]
    links.append(link)
    return link


def test_round_trip_keeps_properties(mosquitto, links: list[MqttLink]) -> None:
    topics = Topics("rtcc/v1", "door-1")
    inbox = Inbox()
    sub = _link(links, mosquitto.url, "center-1", on_message=inbox)
    sub.subscribe(segments_filter("rtcc/v1"))
    sub.connect()
    pub = _link(links, mosquitto.url, "door-1")
    pub.connect()
    assert pub.connected
    payload = os.urandom(5000)
    result = pub.publish(
        topics.segments,
        payload,
        content_type="application/octet-stream",
        expiry=3600,
        user_properties=[("seq", "7"), ("seq", "8")],
    )
    assert result.wait(WAIT)
    msg = inbox.get()
    assert msg.topic == "rtcc/v1/door-1/segments"
    assert msg.payload == payload
    assert msg.content_type == "application/octet-stream"
    assert msg.user_properties == (("seq", "7"), ("seq", "8"))
    assert not msg.retain


def test_connect_failure_names_the_url(mosquitto_factory) -> None:
    broker = mosquitto_factory(start=False)  # a free port with nobody listening
    link = MqttLink(broker.url, client_id="door-1")
    with pytest.raises(TransportError, match=rf"cannot reach broker mqtt://127\.0\.0\.1:{broker.port}"):
        link.connect(timeout=2)
    link.stop()


def test_start_connects_once_the_broker_comes_up(mosquitto_factory, links: list[MqttLink]) -> None:
    broker = mosquitto_factory(start=False)
    link = _link(links, broker.url, "door-1")
    with pytest.raises(TransportError):
        link.connect(timeout=1)
    link.start()
    broker.start()
    assert link.wait_connected(WAIT)
    assert link.publish("rtcc/v1/door-1/status", b"online").wait(WAIT)


def test_retained_status_reaches_a_late_subscriber(mosquitto, links: list[MqttLink]) -> None:
    topics = Topics("rtcc/v1", "door-1")
    pub = _link(links, mosquitto.url, "door-1")
    pub.connect()
    assert pub.publish(topics.status, b"online", retain=True).wait(WAIT)
    inbox = Inbox()
    sub = _link(links, mosquitto.url, "center-1", on_message=inbox)
    sub.connect()
    sub.subscribe(topics.status)
    msg = inbox.get()
    assert (msg.payload, msg.retain) == (b"online", True)


_WILL_CLIENT = """
import sys, time
from edge_agent.transport.mqtt import MqttLink, Will
link = MqttLink(sys.argv[1], client_id="door-1", keepalive=60,
                will=Will("rtcc/v1/door-1/status", b"offline", retain=True))
link.connect()
assert link.publish("rtcc/v1/door-1/status", b"online", retain=True).wait(10)
print("ready", flush=True)
time.sleep(60)
"""


def test_last_will_fires_when_the_device_dies(mosquitto, links: list[MqttLink]) -> None:
    inbox = Inbox()
    sub = _link(links, mosquitto.url, "center-1", on_message=inbox)
    sub.connect()
    sub.subscribe("rtcc/v1/+/status")
    proc = subprocess.Popen([sys.executable, "-c", _WILL_CLIENT, mosquitto.url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        assert inbox.get().payload == b"online"
        proc.send_signal(signal.SIGKILL)  # power cut: the socket drops without DISCONNECT
        proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    msg = inbox.get()
    assert (msg.topic, msg.payload) == ("rtcc/v1/door-1/status", b"offline")
    # Retained: the center learns the device is offline even if it subscribes later.
    inbox2 = Inbox()
    late = _link(links, mosquitto.url, "center-2", on_message=inbox2)
    late.connect()
    late.subscribe("rtcc/v1/door-1/status")
    assert inbox2.get().payload == b"offline"


def test_clean_stop_does_not_fire_the_will(mosquitto, links: list[MqttLink]) -> None:
    inbox = Inbox()
    sub = _link(links, mosquitto.url, "center-1", on_message=inbox)
    sub.connect()
    sub.subscribe("rtcc/v1/+/status")
    dev = MqttLink(mosquitto.url, client_id="door-1", will=Will("rtcc/v1/door-1/status", b"offline"))
    dev.connect()
    dev.stop()
    # A will would be queued at the disconnect, before this marker from another client.
    other = _link(links, mosquitto.url, "door-2")
    other.connect()
    assert other.publish("rtcc/v1/door-2/status", b"marker").wait(WAIT)
    assert inbox.get().payload == b"marker"


def test_refused_publish_raises_instead_of_retrying(mosquitto_factory, tmp_path: Path, links) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite rtcc/v1/door-1/#\n")
    broker = mosquitto_factory([f"acl_file {acl}"])
    link = _link(links, broker.url, "door-1")
    link.connect()
    with pytest.raises(TransportError, match=r"refused a message on rtcc/v1/door-2/segments.*\(135\)"):
        link.publish("rtcc/v1/door-2/segments", b"x").wait(WAIT)
    assert link.publish("rtcc/v1/door-1/segments", b"x").wait(WAIT)
    assert link.connected


def test_large_payload_is_split_and_reassembled(mosquitto_factory, tmp_path: Path, links) -> None:
    broker = mosquitto_factory(["max_packet_size 65536"])
    got: queue.Queue[bytes] = queue.Queue()
    parts_seen: list[str] = []
    reassembler = Reassembler(tmp_path / "parts")

    def on_message(msg: InboundMessage) -> None:
        parts_seen.append(msg.property(PART) or "")
        whole = reassembler.feed(msg)
        if whole is not None:
            got.put(whole)

    sub = _link(links, broker.url, "center-1", on_message=on_message)
    sub.subscribe(segments_filter("rtcc/v1"))
    sub.connect()
    pub = _link(links, broker.url, "door-1")
    pub.connect()
    assert pub.max_packet_size == 65536
    payload = os.urandom(1 << 20)
    result = pub.publish(Topics("rtcc/v1", "door-1").segments, payload, content_type="application/x-sealed")
    assert result.parts == 17
    assert result.wait(WAIT)
    assert got.get(timeout=WAIT) == payload
    assert len(parts_seen) == 17 and parts_seen[-1] == "17/17"
    assert pub.connected  # never disconnected for an oversize packet
    assert "too large" not in broker.log_text().lower()
    # Nothing is left but the sender's (empty) folder and the done marker.
    assert [p for p in (tmp_path / "parts").glob("*/*") if p.parent.name != ".done"] == []


def test_two_workers_share_the_parts_folder(mosquitto_factory, tmp_path: Path, links) -> None:
    broker = mosquitto_factory(["max_packet_size 65536"])
    folder = tmp_path / "parts"
    done: queue.Queue[tuple[str, bytes]] = queue.Queue()
    counts = {"w1": 0, "w2": 0}
    lock = threading.Lock()

    def worker(name: str) -> MqttLink:
        reassembler = Reassembler(folder)

        def on_message(msg: InboundMessage) -> None:
            with lock:
                counts[name] += 1
            whole = reassembler.feed(msg)
            if whole is not None:
                done.put((name, whole))

        link = _link(links, broker.url, f"center-{name}", on_message=on_message)
        link.subscribe(segments_filter("rtcc/v1", share_group="center"))
        link.connect()
        return link

    worker("w1")
    worker("w2")
    pub = _link(links, broker.url, "door-1")
    pub.connect()
    payloads = [os.urandom((1 << 20) + i * 1000) for i in range(3)]
    results = [pub.publish("rtcc/v1/door-1/segments", p) for p in payloads]
    assert all(r.wait(WAIT) for r in results)
    assembled = [done.get(timeout=WAIT) for _ in payloads]
    assert done.empty()
    digests = sorted(hashlib.sha256(whole).hexdigest() for _, whole in assembled)
    assert digests == sorted(hashlib.sha256(p).hexdigest() for p in payloads)
    # The shared subscription really split the parts between both workers.
    assert counts["w1"] > 0 and counts["w2"] > 0
    assert counts["w1"] + counts["w2"] == sum(r.parts for r in results)


def test_subscriptions_survive_a_broker_restart(mosquitto, links: list[MqttLink]) -> None:
    inbox = Inbox()
    sub = _link(links, mosquitto.url, "center-1", on_message=inbox)
    ups: queue.Queue[bool] = queue.Queue()
    sub.add_connection_listener(ups.put)
    sub.subscribe("rtcc/v1/+/answers")
    sub.connect()
    assert ups.get(timeout=WAIT) is True
    pub = _link(links, mosquitto.url, "door-1")
    pub.connect()
    mosquitto.restart()
    assert ups.get(timeout=WAIT) is False
    assert ups.get(timeout=WAIT) is True  # reconnected by the network loop, and subscribed again
    assert pub.publish("rtcc/v1/door-1/answers", b"approved").wait(WAIT)
    assert inbox.get().payload == b"approved"


# -- the outbox publisher ------------------------------------------------------------------------------------


class Received:
    """A center-side subscriber that records the sequence numbers it receives (joined from parts if split)."""

    def __init__(self, folder: Path) -> None:
        self.reassembler = Reassembler(folder)
        self.seqs: list[int] = []
        self.cond = threading.Condition()

    def __call__(self, msg: InboundMessage) -> None:
        whole = self.reassembler.feed(msg)
        if whole is None:
            return
        seq = int(whole.split(b":", 1)[0])
        with self.cond:
            self.seqs.append(seq)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT * 3) -> list[int]:
        """Wait until ``count`` distinct sequence numbers arrived; returns every arrival (duplicates too)."""
        with self.cond:
            assert self.cond.wait_for(lambda: len(set(self.seqs)) >= count, timeout), self.seqs
            return list(self.seqs)


def _until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll ``predicate`` (for state that has no event to wait on, such as files on disk)."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.02)
    return True


def _blob(seq: int, size: int) -> bytes:
    return f"{seq}:".encode() + os.urandom(size)


def _center(links: list[MqttLink], url: str, folder: Path) -> Received:
    received = Received(folder)
    # A persistent session: what the broker queued for the center survives its restart.
    sub = _link(links, url, "center-1", on_message=received, clean_start=False, session_expiry=300)
    sub.subscribe(segments_filter("rtcc/v1"))
    sub.connect()
    sub.start()
    return received


def test_publisher_delivers_in_order_and_keeps_what_was_sent(mosquitto_factory, tmp_path: Path, links) -> None:
    broker = mosquitto_factory(["max_packet_size 65536"])
    received = _center(links, broker.url, tmp_path / "parts")
    outbox = Outbox(tmp_path / "outbox", 64 << 20)
    topic = Topics("rtcc/v1", "door-1").segments
    for seq in range(12):
        outbox.put(seq, topic, "c-1", _blob(seq, 1000 if seq % 3 else 200_000))  # every third one is split
    link = _link(links, broker.url, "door-1")
    sent: list[int] = []
    publisher = OutboxPublisher(outbox, link, on_sent=lambda item: sent.append(item.seq))
    link.connect()
    publisher.start()
    try:
        assert received.wait_for(12) == list(range(12))
        outbox.put(12, topic, "c-1", _blob(12, 10))
        publisher.notify()
        assert received.wait_for(13) == list(range(13))
        assert _until(lambda: len(sent) == 13)
    finally:
        publisher.stop()
    assert sent == list(range(13))
    assert publisher.sent_count == 13
    assert outbox.pending() == []
    # Nothing waits; what was sent is kept as sent, for a resend the center may ask for.
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["shared"]
    assert [seq for seq, _ in outbox.archive.kept()] == list(range(13))


def test_publisher_keeps_items_through_a_broker_outage(mosquitto, tmp_path: Path, links) -> None:
    received = _center(links, mosquitto.url, tmp_path / "parts")
    outbox = Outbox(tmp_path / "outbox", 64 << 20)
    topic = Topics("rtcc/v1", "door-1").segments
    link = _link(links, mosquitto.url, "door-1")
    publisher = OutboxPublisher(outbox, link)
    link.start()
    publisher.start()
    try:
        for seq in range(5):
            outbox.put(seq, topic, "c-1", _blob(seq, 50_000))
            publisher.notify()
        assert received.wait_for(5) == list(range(5))
        mosquitto.stop()
        for seq in range(5, 10):
            outbox.put(seq, topic, "c-1", _blob(seq, 50_000))
            publisher.notify()
        assert not link.wait_connected(0.5)
        assert [i.seq for i in outbox.pending()] == list(range(5, 10))  # nothing lost while the broker is away
        mosquitto.start()
        arrivals = received.wait_for(10)
        assert _until(lambda: not outbox.pending())
    finally:
        publisher.stop()
    assert outbox.pending() == []
    # QoS 1 is at least once: a message the center had but whose acknowledgement the broker did not get before it
    # stopped comes again (the center stores it once). What waited in the outbox during the outage comes once.
    assert list(dict.fromkeys(arrivals)) == list(range(10))  # every one, first arrivals in order
    assert {seq for seq in received.seqs if received.seqs.count(seq) > 1} <= set(range(5))


def test_publisher_recovers_when_the_broker_dies_mid_stream(mosquitto, tmp_path: Path, links) -> None:
    received = _center(links, mosquitto.url, tmp_path / "parts")
    outbox = Outbox(tmp_path / "outbox", 64 << 20)
    topic = Topics("rtcc/v1", "door-1").segments
    for seq in range(40):
        outbox.put(seq, topic, "c-1", _blob(seq, 100_000))
    link = _link(links, mosquitto.url, "door-1")
    publisher = OutboxPublisher(outbox, link)
    link.connect()
    link.start()
    publisher.start()
    try:
        received.wait_for(3)
        mosquitto.stop()  # while items are in flight
        assert outbox.pending()  # undelivered items wait on disk
        mosquitto.start()
        seqs = received.wait_for(40)
        assert _until(lambda: not outbox.pending())
    finally:
        publisher.stop()
    assert outbox.pending() == []
    assert set(seqs) == set(range(40))  # nothing lost
    # QoS 1 is at-least-once: a message in flight when the broker died may come twice, never out of order.
    firsts = list(dict.fromkeys(seqs))
    assert firsts == list(range(40))


def test_refused_item_is_set_aside(mosquitto_factory, tmp_path: Path, links) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite rtcc/v1/door-1/#\n")
    broker = mosquitto_factory([f"acl_file {acl}"])
    received = _center(links, broker.url, tmp_path / "parts")
    outbox = Outbox(tmp_path / "outbox", 1 << 20)
    outbox.put(1, "rtcc/v1/door-1/segments", "c", _blob(1, 10))
    outbox.put(2, "rtcc/v1/door-2/segments", "c", _blob(2, 10))  # not this device's topic: PUBACK 135
    outbox.put(3, "rtcc/v1/door-1/segments", "c", _blob(3, 10))
    link = _link(links, broker.url, "door-1")
    publisher = OutboxPublisher(outbox, link)
    link.connect()
    publisher.start()
    try:
        assert received.wait_for(2) == [1, 3]
        assert _until(lambda: not outbox.pending())
    finally:
        publisher.stop()
    assert publisher.rejected_count == 1
    assert outbox.pending() == []
    assert [p.name for p in (tmp_path / "outbox" / "rejected").iterdir()] == ["00000000000000000002.item"]


# -- TLS with client certificates ----------------------------------------------------------------------------


def _cert(
    name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey, *, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if name == "127.0.0.1":
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def _write_pki(folder: Path) -> dict[str, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test center CA")])
    files: dict[str, Path] = {}
    ca = _cert("test center CA", ca_key, ca_name, ca_key, ca=True)
    files["ca"] = folder / "ca.pem"
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, label in [("127.0.0.1", "server"), ("door-1", "client")]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, key, ca_name, ca_key, ca=False)
        files[label] = folder / f"{label}.pem"
        files[label].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{label}-key"] = folder / f"{label}.key"
        files[f"{label}-key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return files


def test_mutual_tls(mosquitto_factory, tmp_path: Path, links: list[MqttLink]) -> None:
    pki = _write_pki(tmp_path)
    acl = tmp_path / "acl"
    acl.write_text("pattern readwrite rtcc/v1/%u/#\n")
    broker = mosquitto_factory(
        [
            f"cafile {pki['ca']}",
            f"certfile {pki['server']}",
            f"keyfile {pki['server-key']}",
            "require_certificate true",
            "use_identity_as_username true",
            f"acl_file {acl}",
        ]
    )
    url = f"mqtts://127.0.0.1:{broker.port}"
    link = _link(
        links,
        url,
        "door-1",
        tls=TlsSettings(ca_file=pki["ca"], cert_file=pki["client"], key_file=pki["client-key"]),
    )
    link.connect()
    assert link.publish("rtcc/v1/door-1/status", b"online").wait(WAIT)
    # The certificate's name is the identity: another device's topic is refused.
    with pytest.raises(TransportError, match=r"\(135\)"):
        link.publish("rtcc/v1/door-2/status", b"online").wait(WAIT)

    anonymous = MqttLink(url, client_id="door-1", tls=TlsSettings(ca_file=pki["ca"]))
    with pytest.raises(TransportError, match=rf"cannot reach broker mqtts://127\.0\.0\.1:{broker.port}"):
        anonymous.connect(timeout=3)
    anonymous.stop()


def test_tls_settings_errors(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="use mqtts://"):
        MqttLink("mqtt://127.0.0.1:1", client_id="door-1", tls=TlsSettings(ca_file=tmp_path / "ca.pem"))
    with pytest.raises(TransportError, match="cannot load TLS files"):
        MqttLink("mqtts://127.0.0.1:1", client_id="door-1", tls=TlsSettings(ca_file=tmp_path / "missing.pem"))
