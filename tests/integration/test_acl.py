"""Who may do what on the center's broker: Mosquitto runs with exactly ``deploy/mosquitto/`` (only file paths,
ports and the test's log and persistence lines differ), with certificates made here.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import queue
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge_agent.config.identity import enroll
from edge_agent.config.models import TlsSettings as EnrollTls
from edge_agent.devbroker import MOSQUITTO, MosquittoBroker, free_port
from edge_agent.errors import TransportError
from edge_agent.transport.mqtt import InboundMessage, MqttLink, TlsSettings
from tests.integration.reliability_helpers import PersistentCenter, evidence_seqs, wait_until
from tests.integration.spine_helpers import grant_live, make_setup, run_device

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
WAIT = 10.0


# -- certificates --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


class Ca:
    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = self._build(self.name, self.key.public_key(), ca=True)
        self.path = folder / f"{name}.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def _build(self, subject: x509.Name, public: ec.EllipticCurvePublicKey, *, ca: bool,
               ip: str | None = None) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ip is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue(self, common_name: str, ip: str | None = None) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = self._build(subject, key.public_key(), ca=False, ip=ip)
        stem = self.folder / f"{common_name}.{self.name.rfc4514_string()[3:]}"
        issued = Issued(Path(f"{stem}.pem"), Path(f"{stem}.key"))
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
        os.chmod(issued.key, 0o600)
        return issued


# -- the broker with the deployed configuration --------------------------------------------------------------


class CenterBroker(MosquittoBroker):
    """Mosquitto running ``deploy/mosquitto/edge-center.conf`` with its ACL files; ``port`` is the device
    listener, ``staff_port`` the center's and police accounts'."""

    def __init__(self, folder: Path, pki: Path) -> None:
        self.pki = pki
        self.staff_port = free_port()
        super().__init__(folder)

    def listen_ports(self) -> list[int]:
        return [self.port, self.staff_port]

    def _write_config(self) -> None:
        etc = "/etc/mosquitto/edge-center/"
        text = (DEPLOY / "edge-center.conf").read_text()
        text = text.replace(etc, f"{self.pki}/")
        text = text.replace("listener 8883\n", f"listener {self.port} {self.host}\n")
        text = text.replace("listener 8884\n", f"listener {self.staff_port} {self.host}\n")
        for acl in ("devices.acl", "staff.acl"):
            (self.pki / acl).write_text((DEPLOY / acl).read_text())
        # What Debian's main mosquitto.conf provides around the drop-in.
        main = ["persistence true", f"persistence_location {self.persistence}/", f"log_dest file {self.log_path}",
                "log_type all", "connection_messages true"]
        if os.geteuid() == 0:
            main.append("user root")
        self.config_path.write_text("\n".join(main) + "\n" + text)


@dataclass
class Pki:
    device_ca: Ca
    staff_ca: Ca
    rogue_ca: Ca
    folder: Path

    def device(self, name: str) -> TlsSettings:
        issued = self.device_ca.issue(name)
        return TlsSettings(self.device_ca.path, issued.cert, issued.key)

    def staff(self, name: str) -> TlsSettings:
        issued = self.staff_ca.issue(name)
        return TlsSettings(self.device_ca.path, issued.cert, issued.key)


@pytest.fixture
def center_broker(tmp_path: Path) -> Iterator[tuple[CenterBroker, Pki]]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed")
    pki_dir = tmp_path / "pki"
    pki_dir.mkdir()
    device_ca, staff_ca = Ca(pki_dir, "device-ca"), Ca(pki_dir, "staff-ca")
    # One broker certificate serves both listeners; clients trust the CA that issued it.
    broker_cert = device_ca.issue("127.0.0.1", ip="127.0.0.1")
    os.replace(broker_cert.cert, pki_dir / "broker.pem")
    os.replace(broker_cert.key, pki_dir / "broker.key")
    broker = CenterBroker(tmp_path / "broker", pki_dir)
    broker.start()
    try:
        yield broker, Pki(device_ca, staff_ca, Ca(pki_dir, "rogue-ca"), pki_dir)
    finally:
        broker.kill()


@pytest.fixture
def links() -> Iterator[list[MqttLink]]:
    made: list[MqttLink] = []
    yield made
    for link in made:
        link.stop(flush_timeout=0)


def _connect(links: list[MqttLink], port: int, client_id: str, tls: TlsSettings,
             inbox: queue.Queue[InboundMessage] | None = None) -> MqttLink:
    link = MqttLink(f"mqtts://127.0.0.1:{port}", client_id=client_id, tls=tls,
                    on_message=None if inbox is None else inbox.put)
    links.append(link)
    link.connect(timeout=5)
    return link


def _refused(link: MqttLink, topic: str) -> bool:
    try:
        link.publish(topic, b"x").wait(WAIT)
    except TransportError as exc:
        return "(135)" in str(exc)
    return False


# -- the cases -----------------------------------------------------------------------------------------------


def test_device_publishes_only_under_its_own_topics(center_broker, links) -> None:
    broker, pki = center_broker
    door1 = _connect(links, broker.port, "door-1", pki.device("door-1"))
    for kind in ("status", "consent", "segments", "answers", "loghead"):
        assert door1.publish(f"rtcc/v1/door-1/{kind}", b"x").wait(WAIT)
    assert _refused(door1, "rtcc/v1/door-2/segments")
    assert _refused(door1, "rtcc/v1/door-2/status")
    assert _refused(door1, "rtcc/v1/door-1/requests")  # nobody orders itself around
    assert _refused(door1, "other/topic")
    # The client id is the client's own choice and proves nothing: the certificate name decides.
    spoof = _connect(links, broker.port, "door-2", pki.device("door-1"))
    assert _refused(spoof, "rtcc/v1/door-2/segments")


def test_requests_reach_only_their_device_and_only_the_center_sends_them(center_broker, links) -> None:
    broker, pki = center_broker
    inbox1: queue.Queue[InboundMessage] = queue.Queue()
    door1 = _connect(links, broker.port, "door-1", pki.device("door-1"), inbox1)
    door1.subscribe("rtcc/v1/door-1/requests")
    door1.subscribe("rtcc/v1/door-2/requests")  # granted by Mosquitto, but nothing is ever delivered
    door1.subscribe("rtcc/v1/+/segments")
    center = _connect(links, broker.staff_port, "edge-center", pki.staff("edge-center"))
    police = _connect(links, broker.staff_port, "police-7", pki.staff("police-7"))
    assert center.publish("rtcc/v1/door-2/requests", b"for door 2").wait(WAIT)
    assert _refused(police, "rtcc/v1/door-1/requests")
    assert center.publish("rtcc/v1/door-1/requests", b"for door 1").wait(WAIT)
    other = _connect(links, broker.port, "door-2", pki.device("door-2"))
    assert other.publish("rtcc/v1/door-2/segments", b"door 2 video").wait(WAIT)
    assert _refused(other, "rtcc/v1/door-2/requests")
    msg = inbox1.get(timeout=WAIT)
    assert (msg.topic, msg.payload) == ("rtcc/v1/door-1/requests", b"for door 1")
    with pytest.raises(queue.Empty):
        inbox1.get(timeout=1.0)  # neither door 2's request nor door 2's segments


def test_police_read_but_cannot_publish(center_broker, links) -> None:
    broker, pki = center_broker
    inbox: queue.Queue[InboundMessage] = queue.Queue()
    police = _connect(links, broker.staff_port, "police-7", pki.staff("police-7"), inbox)
    police.subscribe("rtcc/v1/+/segments")
    door1 = _connect(links, broker.port, "door-1", pki.device("door-1"))
    assert door1.publish("rtcc/v1/door-1/segments", b"sealed").wait(WAIT)
    assert inbox.get(timeout=WAIT).payload == b"sealed"
    for kind in ("segments", "status", "consent", "answers", "loghead", "requests"):
        assert _refused(police, f"rtcc/v1/door-1/{kind}")
    assert _refused(police, "rtcc/v1/police-7/segments")  # no pseudo-device of its own either


def test_connections_without_the_right_certificate_are_refused(center_broker, links) -> None:
    broker, pki = center_broker
    no_cert = TlsSettings(pki.device_ca.path)
    rogue = pki.rogue_ca.issue("door-1")
    cases = {
        "no client certificate (devices)": (broker.port, no_cert),
        "no client certificate (staff)": (broker.staff_port, no_cert),
        "certificate from an unknown CA": (broker.port, TlsSettings(pki.device_ca.path, rogue.cert, rogue.key)),
        "staff certificate on the device listener": (broker.port, pki.staff("edge-center")),
        "device certificate on the staff listener": (broker.staff_port, pki.device("edge-center")),
    }
    for label, (port, tls) in cases.items():
        link = MqttLink(f"mqtts://127.0.0.1:{port}", client_id="door-1", tls=tls)
        with pytest.raises(TransportError, match="cannot reach broker"):
            link.connect(timeout=3)
            pytest.fail(f"{label}: connected")
        link.stop(flush_timeout=0)
    # A plain (non-TLS) connection to either port gets nowhere.
    for port in (broker.port, broker.staff_port):
        plain = MqttLink(f"mqtt://127.0.0.1:{port}", client_id="door-1")
        with pytest.raises(TransportError, match="cannot reach broker"):
            plain.connect(timeout=3)
        plain.stop(flush_timeout=0)


def test_agent_and_center_over_mutual_tls(tmp_path, center_broker) -> None:
    broker, pki = center_broker
    setup = make_setup(tmp_path, f"mqtts://127.0.0.1:{broker.port}", device_id="door-1")
    device_tls = pki.device("door-1")
    enroll(setup.device, setup.center.public, setup.broker_url,
           EnrollTls(ca_file=str(device_tls.ca_file), cert_file=str(device_tls.cert_file),
                     key_file=str(device_tls.key_file)), None)
    center_tls = pki.staff("edge-center")
    grant_live(setup)
    with PersistentCenter(setup, broker_url=f"mqtts://127.0.0.1:{broker.staff_port}",
                          tls=EnrollTls(ca_file=str(center_tls.ca_file), cert_file=str(center_tls.cert_file),
                                        key_file=str(center_tls.key_file))) as center:
        summary = run_device(setup, duration=3.0)
        assert summary.shared >= 2
        assert wait_until(lambda: len(evidence_seqs(setup.center.root)) >= summary.shared, 15)
    assert sorted(evidence_seqs(setup.center.root)) == list(range(summary.shared))
    assert center.counts["rejected"] == 0
    records = [json.loads(p.read_text()) for p in (setup.center.root / "store" / "door-1").glob("*.json")]
    assert {r["device_id"] for r in records} == {"door-1"}


def test_pki_script_issues_certificates_the_broker_accepts(tmp_path: Path, links) -> None:
    """deploy/mosquitto/pki.sh, as the README tells an operator to use it, against the deployed configuration."""
    if shutil.which("openssl") is None or MOSQUITTO is None:
        pytest.skip("needs openssl and mosquitto")
    pki = tmp_path / "pki"
    script = str(DEPLOY / "pki.sh")
    for args in (["init", str(pki), "127.0.0.1"], ["device", str(pki), "door-1"], ["staff", str(pki), "edge-center"],
                 ["staff", str(pki), "police-7"]):
        subprocess.run(["bash", script, *args], check=True, capture_output=True)
    again = subprocess.run(["bash", script, "device", str(pki), "door-1"], check=False, capture_output=True,
                           text=True)
    assert again.returncode == 2 and "refusing to issue a second certificate" in again.stderr
    broker = CenterBroker(tmp_path / "broker", pki)
    broker.start()
    try:
        def tls(name: str) -> TlsSettings:
            return TlsSettings(pki / "device-ca.pem", pki / f"{name}.pem", pki / f"{name}.key")

        door1 = _connect(links, broker.port, "door-1", tls("door-1"))
        assert door1.publish("rtcc/v1/door-1/segments", b"x").wait(WAIT)
        center = _connect(links, broker.staff_port, "edge-center", tls("edge-center"))
        assert center.publish("rtcc/v1/door-1/requests", b"x").wait(WAIT)
        police = _connect(links, broker.staff_port, "police-7", tls("police-7"))
        assert _refused(police, "rtcc/v1/door-1/segments")
    finally:
        broker.kill()
