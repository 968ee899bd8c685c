"""Revocation on a real Mosquitto: nothing made after it arrives, waiting segments are deleted, and the retained
consent message says so within a second."""

from __future__ import annotations

import json
import socket
import threading
import time

from edge_agent.cli import main
from edge_agent.config.loader import load_profile
from edge_agent.consent.state import ConsentStore
from edge_agent.core.audit import AuditLog
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.device.homeowner import grant_live
from edge_agent.outbox.spool import Outbox
from edge_agent.transport.mqtt import InboundMessage, MqttLink
from edge_agent.transport.topics import Topics
from tests.integration.spine_helpers import CenterThread, make_setup, wait_for


def _evidence(root):
    path = root / "evidence.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _retained_consent(url):
    got: list[InboundMessage] = []
    link = MqttLink(url, client_id=f"test-reader-{time.monotonic_ns() % 10**9}", on_message=got.append)
    link.subscribe(Topics("rtcc/v1", "test-device").consent, qos=1)
    link.connect(timeout=5)
    link.start()
    wait_for(lambda: bool(got), timeout=2)
    link.stop()
    return json.loads(got[-1].payload)["doc"] if got else None


def test_revoke_during_live_stream(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url)
    profile, _ = load_profile(str(setup.profile))
    grant_live(setup.device, profile, until=time.time() + 600)
    agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=7.0))
    with CenterThread(setup) as center:
        device = threading.Thread(target=agent.run, daemon=True)
        device.start()
        assert wait_for(lambda: len(_evidence(setup.center.root)) >= 2, timeout=15)
        assert main(["--data-dir", str(setup.device.root), "consent", "revoke", "--profile",
                     str(setup.profile)]) == 0
        revoked = ConsentStore(setup.device.consent).current()
        time.sleep(1.0)
        retained = _retained_consent(mosquitto.url)
        device.join(timeout=30)
        time.sleep(1.0)  # anything still in flight lands before the count
    assert retained is not None and retained["id"] == revoked.id and retained["mode"] == "off"
    evidence = _evidence(setup.center.root)
    assert evidence
    assert all(e["end"] <= revoked.starts_at for e in evidence)
    assert agent.summary.segments > len(evidence)  # the device kept making segments; none of them left
    assert center.counts["rejected"] == 0
    assert not Outbox(setup.device.outbox, 1 << 30).pending()


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"mqtt://127.0.0.1:{sock.getsockname()[1]}"


def test_revoke_deletes_waiting_segments(tmp_path):
    setup = make_setup(tmp_path, _closed_port_url())  # the broker is away: segments wait in the outbox
    profile, _ = load_profile(str(setup.profile))
    grant_live(setup.device, profile, until=time.time() + 600)
    Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=3.0)).run()
    waiting = Outbox(setup.device.outbox, 1 << 30).pending()
    assert waiting
    assert main(["--data-dir", str(setup.device.root), "consent", "revoke", "--profile", str(setup.profile)]) == 0
    assert not Outbox(setup.device.outbox, 1 << 30).pending()
    dropped = [e for e in AuditLog(setup.device.audit).entries() if e["kind"] == "outbox_revoked"]
    assert sorted(dropped[-1]["segments"]) == sorted(item.seq for item in waiting)


def test_grant_past_the_cap_is_refused(tmp_path, capsys):
    setup = make_setup(tmp_path, _closed_port_url())
    code = main(["--data-dir", str(setup.device.root), "consent", "live", "--for", "9h", "--profile",
                 str(setup.profile)])
    assert code == 2
    err = capsys.readouterr().err
    assert "exceeds this profile's cap of 8 h" in err and len(err.strip().splitlines()) == 1
    assert ConsentStore(setup.device.consent).current().mode == "off"
