"""The README's certificate route, followed literally, delivers; a name mismatch is caught at enrolment, and a
broker that refuses segments anyway (135) shows in ``status`` and is not counted as sharing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_agent.center.keys import CenterPaths, add_device, init_keys
from edge_agent.cli import main
from edge_agent.config.identity import enroll, init_identity
from edge_agent.config.models import TlsSettings
from edge_agent.consent.transparency import transparency_report
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.devbroker import MOSQUITTO
from edge_agent.device.agent_state import read_agent_state
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.ui.webapp import agent_view
from tests.integration.reliability_helpers import PersistentCenter, evidence_seqs, wait_until
from tests.integration.spine_helpers import SMALL_PROFILE, Setup
from tests.integration.test_acl import DEPLOY, CenterBroker

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=ROOT)


@pytest.fixture
def pki_broker(tmp_path: Path):
    """deploy/mosquitto/pki.sh as the README runs it, and Mosquitto with deploy/mosquitto's configuration."""
    if shutil.which("openssl") is None or MOSQUITTO is None:
        pytest.skip("needs openssl and mosquitto")
    pki = tmp_path / "pki"
    script = str(DEPLOY / "pki.sh")
    for args in (["init", str(pki), "127.0.0.1"], ["device", str(pki), "door-1"], ["staff", str(pki), "edge-center"]):
        subprocess.run(["bash", script, *args], check=True, capture_output=True)
    broker = CenterBroker(tmp_path / "broker", pki)
    broker.start()
    yield broker, pki
    broker.kill()


def _center(tmp_path: Path) -> tuple[CenterPaths, Path]:
    center = CenterPaths(tmp_path / "center")
    return center, init_keys(center, "test-center")


def test_readme_certificate_route_delivers(tmp_path: Path, pki_broker) -> None:
    broker, pki = pki_broker
    device = tmp_path / "device"
    center, center_pub = _center(tmp_path)
    keys = _cli("--data-dir", str(device), "keys", "init", "--device-id", "door-1")
    assert keys.returncode == 0, keys.stderr
    add_device(center, device / "device.pub.json")
    enrolled = _cli("--data-dir", str(device), "enroll", "--center-key", str(center_pub), "--broker",
                    f"mqtts://127.0.0.1:{broker.port}", "--tls-ca", str(pki / "device-ca.pem"),
                    "--tls-cert", str(pki / "door-1.pem"), "--tls-key", str(pki / "door-1.key"))
    assert enrolled.returncode == 0, enrolled.stderr
    assert _cli("--data-dir", str(device), "consent", "live", "--for", "10m").returncode == 0
    profile = tmp_path / "small.toml"
    profile.write_text(SMALL_PROFILE)
    setup = Setup(DevicePaths(device), center, profile, f"mqtts://127.0.0.1:{broker.port}")
    staff = TlsSettings(ca_file=str(pki / "device-ca.pem"), cert_file=str(pki / "edge-center.pem"),
                        key_file=str(pki / "edge-center.key"))
    with PersistentCenter(setup, broker_url=f"mqtts://127.0.0.1:{broker.staff_port}", tls=staff):
        run = _cli("--data-dir", str(device), "run", "--profile", str(profile), "--duration", "4")
        assert run.returncode == 0, run.stderr
        assert wait_until(lambda: len(evidence_seqs(center.root)) >= 2, 20)
    report = transparency_report(DevicePaths(device))
    assert report.segments_refused == 0 and report.segments_shared >= len(evidence_seqs(center.root))


def test_enroll_refuses_a_certificate_for_another_name_and_a_bad_broker_url(tmp_path: Path, pki_broker) -> None:
    broker, pki = pki_broker
    device = tmp_path / "device"
    _, center_pub = _center(tmp_path)
    assert _cli("--data-dir", str(device), "keys", "init").returncode == 0  # named dev-..., not door-1
    tls = ["--tls-ca", str(pki / "device-ca.pem"), "--tls-cert", str(pki / "door-1.pem"),
           "--tls-key", str(pki / "door-1.key")]
    proc = _cli("--data-dir", str(device), "enroll", "--center-key", str(center_pub), "--broker",
                f"mqtts://127.0.0.1:{broker.port}", *tls)
    assert proc.returncode == 2 and "'door-1'" in proc.stderr and "must match" in proc.stderr
    assert "Traceback" not in proc.stderr
    for url in ("mqt://broker:1883", "broker.example.org:8883"):
        proc = _cli("--data-dir", str(device), "enroll", "--center-key", str(center_pub), "--broker", url, *tls)
        assert proc.returncode == 2 and "invalid broker URL" in proc.stderr, proc.stderr
    assert not (device / "enrollment.json").exists()


def test_segments_the_broker_refuses_show_in_status_and_are_not_shared(tmp_path: Path, pki_broker, capsys) -> None:
    broker, pki = pki_broker
    paths = DevicePaths(tmp_path / "device")
    init_identity(paths, "door-2")  # a certificate for door-1 on a device named door-2: the ACL refuses
    _, center_pub = _center(tmp_path)
    tls = TlsSettings(ca_file=str(pki / "device-ca.pem"), cert_file=str(pki / "door-1.pem"),
                      key_file=str(pki / "door-1.key"))
    # Written as an older version (without the name check) would have: enrol, then swap the certificate in.
    plain = enroll(paths, center_pub, f"mqtts://127.0.0.1:{broker.port}", None, None)
    paths.enrollment.write_text(plain.model_copy(update={"tls": tls}).model_dump_json())
    assert main(["--data-dir", str(paths.root), "consent", "live", "--for", "10m"]) == 0
    profile = tmp_path / "small.toml"
    profile.write_text(SMALL_PROFILE)
    agent = Agent(RunOptions(data_dir=paths.root, profile=str(profile), duration=30.0))
    runner = threading.Thread(target=agent.run, daemon=True)
    runner.start()
    try:
        assert wait_until(lambda: _refused(paths) >= 1, 20)
        capsys.readouterr()
        assert main(["--data-dir", str(paths.root), "status"]) == 0
        out = capsys.readouterr().out
        assert "agent: running" in out and "broker: connected" in out
        assert "REFUSED" in out and "(135)" in out
        page = agent_view(read_agent_state(paths))  # what the page's /api/status answers
        assert page["running"] and page["refused"] >= 1 and "135" in page["last_refusal"]
    finally:
        agent.stop_event.set()
        runner.join(timeout=30)
    refused = [e for e in AuditLog(paths.audit).entries() if e["kind"] == "segment_refused"]
    assert refused and all("135" in e["reason"] for e in refused)
    report = transparency_report(paths)
    assert report.segments_refused == len(refused)
    shared_entries = [e for e in AuditLog(paths.audit).entries() if e["kind"] == "segment_shared"]
    assert report.segments_shared == len(shared_entries) - len(refused)
    # After the agent stopped, status says so rather than repeat what the records allow.
    capsys.readouterr()
    main(["--data-dir", str(paths.root), "status"])
    assert "agent: NOT RUNNING" in capsys.readouterr().out


def _refused(paths: DevicePaths) -> int:
    state = read_agent_state(paths)
    return 0 if state is None else state.refused
