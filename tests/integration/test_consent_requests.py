"""Police requests end to end on a real Mosquitto: approve delivers exactly the window, deny reaches the center,
forged, replayed and stale requests are rejected and logged."""

from __future__ import annotations

import json
import threading
import time

from edge_agent.center.files import write_private
from edge_agent.center.keys import CenterPaths, init_keys, load_keys
from edge_agent.center.requests import list_requests, send_request
from edge_agent.cli import main
from edge_agent.config.identity import load_identity
from edge_agent.config.loader import load_profile
from edge_agent.consent.inbox import Inbox
from edge_agent.consent.requests import make_request
from edge_agent.consent.retention import Retention
from edge_agent.core.audit import AuditLog
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.device.homeowner import set_on_request
from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.topics import Topics
from tests.integration.spine_helpers import CenterThread, make_setup, run_device, wait_for


def _evidence(root):
    path = root / "evidence.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _answers(root):
    path = root / "answers.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _publish_raw(url, topic, payload):
    link = MqttLink(url, client_id=f"test-raw-{time.monotonic_ns() % 10**9}")
    link.connect(timeout=5)
    link.start()
    assert link.publish(topic, payload, qos=1).wait(5)
    link.stop()


def test_request_round_trip(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url)
    profile, _ = load_profile(str(setup.profile))
    set_on_request(setup.device, profile)
    # First run: segments go to local retention only (on-request mode streams nothing).
    before = time.time()
    run_device(setup, duration=5.0)
    after = time.time()
    identity = load_identity(setup.device)
    retention = Retention(setup.device, identity.signing_key, 72.0, 1 << 30)
    # A window that starts and ends inside segments: every segment that overlaps it is delivered, whole.
    start, end = before + 1.3, after - 1.3
    expected = {(round(i.start, 3), round(i.end, 3)) for i in retention.window(start, end)}
    assert len(expected) >= 2, "retention holds segments of the window"
    assert min(s for s, _ in expected) < start and max(e for _, e in expected) > end

    with CenterThread(setup) as center:
        device = threading.Thread(target=_run_agent, args=(setup, 7.0), daemon=True)
        device.start()
        assert wait_for(lambda: _subscribed(setup), timeout=10)
        time.sleep(1.0)  # the agent subscribes to requests as it connects, just after it logs its start
        common = {"broker": mosquitto.url, "device_id": "test-device", "reason": "burglary next door"}
        approved = send_request(setup.center, start=start, end=end, case_id="CASE-A", **common)
        denied = send_request(setup.center, start=start, end=end, case_id="CASE-D", **common)
        wide = send_request(setup.center, start=end - 5 * 3600, end=end, case_id="CASE-W", **common)
        stale = _send_bad_requests(setup, tmp_path, mosquitto.url, approved.id)
        inbox = Inbox(setup.device)
        assert wait_for(lambda: len(inbox.entries()) == 4, timeout=10)
        assert main(["--data-dir", str(setup.device.root), "requests", "approve", approved.id]) == 0
        assert main(["--data-dir", str(setup.device.root), "requests", "deny", denied.id, "--reason", "no"]) == 0
        assert wait_for(lambda: len(_answers(setup.center.root)) == 4, timeout=15)
        device.join(timeout=30)
        assert wait_for(lambda: len(_evidence(setup.center.root)) >= len(expected), timeout=15)

    evidence = _evidence(setup.center.root)
    assert {e["consent_id"] for e in evidence} == {approved.id}
    assert {(round(e["start"], 3), round(e["end"], 3)) for e in evidence} == expected
    assert all(e["start"] < end and e["end"] > start for e in evidence)
    answers = {a["request_id"]: a for a in _answers(setup.center.root)}
    assert {rid: a["decision"] for rid, a in answers.items()} == {
        approved.id: "approved", denied.id: "denied", wide.id: "refused", stale: "refused"}
    # The approval lists exactly what was sent; a refusal says why, at the center.
    assert sorted(answers[approved.id]["seqs"]) == sorted(e["seq"] for e in evidence)
    assert "over this profile's cap of 2 h" in answers[wide.id]["reason"]
    assert "stale" in answers[stale]["reason"]
    shown = {status.request.id: status.describe() for status in list_requests(setup.center)}
    assert shown[wide.id].startswith("refused: ") and "cap of 2 h" in shown[wide.id]
    audit = list(AuditLog(setup.device.audit).entries())
    problems = [e["problem"] for e in audit if e["kind"] == "request_rejected"]
    assert len(problems) == 3  # the forgery, and the two refusals
    assert any("signature" in p for p in problems)
    assert [e["request_id"] for e in audit if e["kind"] == "request_repeated"] == [approved.id]
    assert center.counts["rejected"] == 0


def _run_agent(setup, duration):
    """The daemon in a thread (signal handlers are for the main thread only, so not run_agent)."""
    Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=duration)).run()


def _subscribed(setup):
    log = setup.device.root / "audit.log"
    return log.exists() and log.read_text().count("agent_start") >= 2


def _send_bad_requests(setup, tmp_path, url, repeat_id):
    """A forgery (no answer), a request that expired on its way (stored at the center as sent, refused by the
    device), and the approved request once more (the same request: no second entry). Returns the stale one's id."""
    topic = Topics("rtcc/v1", "test-device").requests
    other = CenterPaths(tmp_path / "impostor")
    init_keys(other, "impostor")
    now = time.time()
    _, forged = make_request(load_keys(other).ed25519, device_id="test-device", center_id="test-center",
                             start=now - 60, end=now - 10, case_id="CASE-F", reason="x")
    stale, stale_signed = make_request(load_keys(setup.center).ed25519, device_id="test-device",
                                       center_id="test-center", start=now - 60, end=now - 10, case_id="CASE-S",
                                       reason="x", ttl_s=5, now=now - 60)
    write_private(setup.center.root / "requests" / "test-device" / f"{stale.id}.json", stale_signed)
    repeat = (setup.center.root / "requests" / "test-device" / f"{repeat_id}.json").read_bytes()
    for payload in (forged, stale_signed):
        _publish_raw(url, topic, payload)
    # The repeat goes out once the original is surely in the inbox.
    wait_for((setup.device.root / "requests" / f"{repeat_id}.json").exists, timeout=10)
    _publish_raw(url, topic, repeat)
    return stale.id
