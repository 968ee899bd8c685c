"""One compromised doorbell cannot stop intake for the others: 30 poison documents from an enrolled device's real key,
through a real Mosquitto, while another device's agent streams live. Every poison message is refused and
acknowledged, the other device's segments are all stored, and nothing is left unacknowledged for a restart."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from edge_agent.center.keys import add_device
from edge_agent.config.identity import center_recipient_keys, init_identity, load_enrollment, load_identity
from edge_agent.core.paths import DevicePaths
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.seal import Recipient
from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.topics import Topics
from tests.integration.reliability_helpers import shared_seqs, stored_records
from tests.integration.spine_helpers import CenterThread, grant_live, make_setup, wait_for
from tests.unit.center.center_helpers import raw_segments
from tests.unit.center.poison import all_poison, loghead

EVIL = "evil-device"


def _rejected(center_root: Path) -> list[dict[str, object]]:
    path = center_root / "rejected.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_thirty_poison_documents_do_not_stop_another_devices_intake(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url)
    evil = DevicePaths(tmp_path / EVIL)
    add_device(setup.center, init_identity(evil, EVIL))
    key = load_identity(evil).signing_key
    enrollment = load_enrollment(setup.device)
    assert enrollment is not None
    recipients = [Recipient(k) for k in center_recipient_keys(enrollment)]
    grant_live(setup)
    now = time.time()
    poison = all_poison(EVIL, key, recipients, raw_segments(1, now - 5, EVIL)[0], "r-" + "0" * 16,
                        "test-device", now)
    topics = Topics("rtcc/v1", EVIL)
    link = MqttLink(mosquitto.url, client_id=EVIL)
    link.connect(timeout=5)
    link.start()
    try:
        with CenterThread(setup) as center:
            assert link.publish(topics.loghead, loghead(EVIL, key, 10, "a" * 64, round(now, 3))).wait(5)
            agent = threading.Thread(target=_run_agent, args=(setup, 12.0), daemon=True)
            agent.start()
            time.sleep(3.0)  # the other device is streaming
            for kind, payload, _ in poison:
                assert link.publish(topics.topic(kind), payload, qos=1).wait(5)
            agent.join(timeout=60)
            shared = shared_seqs(setup.device)
            assert len(shared) >= 8
            assert wait_for(lambda: stored_records(setup.center.root, "test-device") == shared, timeout=30)
            assert wait_for(lambda: len([r for r in _rejected(setup.center.root)
                                         if r["device_id"] == EVIL]) >= 30, timeout=15)
        # Every message was answered and acknowledged: a restarted subscriber resumes the same session and is
        # handed nothing again (only the retained records it learned already).
        with CenterThread(setup) as again:
            time.sleep(2.0)
    finally:
        link.stop()
    evil_rejections = [r for r in _rejected(setup.center.root) if r["device_id"] == EVIL]
    assert len(evil_rejections) == 30, evil_rejections
    assert not (setup.center.store / EVIL).exists()
    assert center.counts["set-aside"] == 0
    stored = stored_records(setup.center.root, "test-device")
    assert stored == list(range(len(stored)))  # every segment the other device shared, no gap
    assert again.counts["stored"] + again.counts["duplicate"] + again.counts["rejected"] == 0, again.counts
    print(f"FIGURE poison: 30 poison documents from {EVIL} refused and acknowledged; {len(stored)} live segments "
          f"of test-device stored meanwhile, 0 lost, 0 set aside")


def _run_agent(setup, duration: float) -> None:
    Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=duration)).run()
