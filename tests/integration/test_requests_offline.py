"""Requests that always get an answer, on a real Mosquitto: one sent while the device is off waits for it (the
center says since when it is offline) and is answered within a minute of the device starting; a refusal reaches
the center with its reason; an approval delivers every segment that overlaps its window and lists them; a
revocation withdraws an approval not delivered yet, and nothing of it is sent."""

from __future__ import annotations

import json
import threading
import time

from edge_agent.center.requests import list_requests, send_request
from edge_agent.cli import main
from edge_agent.config.identity import load_identity
from edge_agent.config.loader import load_profile
from edge_agent.consent.inbox import Inbox
from edge_agent.consent.retention import Retention
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.device.homeowner import set_on_request
from tests.integration.spine_helpers import CenterThread, make_setup, run_device, wait_for


def _answers(root):
    path = root / "answers.jsonl"
    return {a["request_id"]: a for a in map(json.loads, path.read_text().splitlines())} if path.exists() else {}


def _evidence(root):
    path = root / "evidence.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_requests_to_an_offline_device_and_a_withdrawn_approval(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url)
    profile, _ = load_profile(str(setup.profile))
    set_on_request(setup.device, profile)
    recorded = time.time()
    run_device(setup, duration=6.0)  # footage in retention; the agent then stops: the device is offline
    retention = Retention(setup.device, load_identity(setup.device).signing_key, 72.0, 1 << 30)
    start, end = recorded + 1.3, recorded + 3.7
    window = retention.window(start, end)
    assert window

    with CenterThread(setup) as center:
        assert wait_for((setup.center.root / "status" / "test-device.json").exists, timeout=10)
        common = {"broker": mosquitto.url, "device_id": "test-device", "reason": "burglary next door"}
        offline = send_request(setup.center, start=start, end=end, case_id="CASE-OFF", **common)
        wide = send_request(setup.center, start=end - 5 * 3600, end=end, case_id="CASE-WIDE", **common)
        shown = {s.request.id: s.describe() for s in list_requests(setup.center)}
        assert shown[offline.id].startswith("waiting: device offline since ")

        started = time.monotonic()
        agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=40.0))
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        inbox = Inbox(setup.device)
        assert wait_for(lambda: any(e.id == offline.id for e in inbox.entries()), timeout=60)
        assert main(["--data-dir", str(setup.device.root), "requests", "approve", offline.id]) == 0
        assert wait_for(lambda: {offline.id, wide.id} <= _answers(setup.center.root).keys(), timeout=60)
        answered_after = time.monotonic() - started

        # An approval whose window reaches into the future, then a revocation before it is delivered.
        later = send_request(setup.center, start=time.time() - 2, end=time.time() + 20, case_id="CASE-LATER",
                             **common)
        assert wait_for(lambda: any(e.id == later.id for e in inbox.entries()), timeout=20)
        assert main(["--data-dir", str(setup.device.root), "requests", "approve", later.id]) == 0
        assert main(["--data-dir", str(setup.device.root), "consent", "revoke",
                     "--profile", str(setup.profile)]) == 0
        assert wait_for(lambda: later.id in _answers(setup.center.root), timeout=20)
        assert wait_for(lambda: len(_evidence(setup.center.root)) >= len(window), timeout=30)
        agent.stop_event.set()
        thread.join(timeout=60)

    answers = _answers(setup.center.root)
    print(f"FIGURE offline request: answered {answered_after:.1f} s after the device started")
    assert answered_after < 60
    assert answers[offline.id]["decision"] == "approved"
    assert answers[wide.id]["decision"] == "refused" and "cap of 2 h" in answers[wide.id]["reason"]
    assert answers[later.id]["decision"] == "withdrawn" and answers[later.id]["segments"] == 0
    evidence = _evidence(setup.center.root)
    assert {e["consent_id"] for e in evidence} == {offline.id}
    assert sorted(e["seq"] for e in evidence) == sorted(answers[offline.id]["seqs"])
    assert {(round(e["start"], 3), round(e["end"], 3)) for e in evidence} == {
        (round(i.start, 3), round(i.end, 3)) for i in window}
    shown = {s.request.id: s.describe() for s in list_requests(setup.center)}
    assert shown[later.id].startswith("withdrawn: consent was revoked")
    assert center.counts["rejected"] == 0
