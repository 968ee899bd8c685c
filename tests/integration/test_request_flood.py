"""A flood of junk on a device's requests topic, on a real broker with the running agent: a genuine signed police
request sent behind 5,000 junk messages still reaches the homeowner, and the audit log grows by a bounded number of
entries that still count every refusal."""

from __future__ import annotations

import threading
import time

from edge_agent.center.keys import load_keys
from edge_agent.config.keys import ed25519_public_bytes, key_id
from edge_agent.consent import api
from edge_agent.consent.requests import make_request
from edge_agent.consent.state import ConsentStore, on_request_record
from edge_agent.core.audit import AuditLog
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.topics import Topics
from tests.integration.spine_helpers import make_setup, wait_for

DEVICE = "door-flood"
JUNK = 5000


def test_a_junk_flood_cannot_push_a_genuine_request_out(tmp_path, mosquitto_factory):
    # The broker keeps the whole flood for the device (its default drops past 1,000 queued messages), so that what
    # is measured is the device's door, not the broker's.
    mosquitto = mosquitto_factory(["max_queued_messages 20000"])
    setup = make_setup(tmp_path, mosquitto.url, device_id=DEVICE)
    store = ConsentStore(setup.device.consent)
    store.write(on_request_record(time.time(), store.current()))
    keys = load_keys(setup.center)
    kid = key_id(ed25519_public_bytes(keys.ed25519.public_key())).encode()
    agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=60.0))
    device = threading.Thread(target=agent.run, daemon=True)
    flooder = MqttLink(mosquitto.url, client_id="flooder")
    flooder.connect(timeout=5)
    before = 0
    try:
        device.start()
        assert wait_for(lambda: agent.uplink is not None and agent.uplink.link.connected, timeout=20)
        before = sum(1 for _ in AuditLog(setup.device.audit).entries())
        topic = Topics("rtcc/v1", DEVICE).requests
        started = time.monotonic()
        for i in range(JUNK):
            # Well-formed signed-document shapes with the center's real key id and a wrong signature: the most
            # expensive junk to refuse (a full Ed25519 check each).
            junk = (b'{"doc":{"id":"r-%016x","type":"request"},"kid":"%s","sig":"%s"}'
                    % (i, kid, b"A" * 86 + b"=="))
            flooder.publish(topic, junk, qos=1)
        now = time.time()
        request, wire = make_request(keys.ed25519, device_id=DEVICE, center_id="test-center", start=now - 60,
                                     end=now - 30, case_id="FLOOD-1", reason="behind the flood", now=now)
        assert flooder.publish(topic, wire, qos=1).wait(60)
        assert wait_for(lambda: any(i.id == request.id for i in api.waiting(setup.device)), timeout=60)
        took = time.monotonic() - started
    finally:
        flooder.stop()
        agent.stop_event.set()
        device.join(timeout=40)
    refused = agent.requests.rejections.total
    entries = list(AuditLog(setup.device.audit).entries())[before:]
    rejected = [e for e in entries if e["kind"] == "request_rejected"]
    written = sum(1 for e in rejected if not e["problem"].endswith("not written one by one"))
    print(f"\n{refused} junk messages refused; genuine request in the inbox {took:.1f} s after the flood began; "
          f"{len(rejected)} audit entries")
    assert refused == JUNK  # QoS 1: the broker delivered every one, and every one was refused
    assert len(rejected) <= 12  # 5 a minute in full, plus the counts
    assert written + sum(e.get("suppressed_before", 0) for e in rejected) == refused
    assert AuditLog(setup.device.audit).verify().ok
