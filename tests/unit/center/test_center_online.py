"""What waits for a device (unanswered police requests, neighbours' masking requests) is sent again when it says it
is online: after it was offline, and also when it says so again without an "offline" between, as after a broker
crash (no last will published) that also lost what the broker had queued for it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from edge_agent.center import intake as intake_module
from edge_agent.center.intake import Intake
from edge_agent.center.keys import DeviceRegistry, load_keys
from edge_agent.transport.model import InboundMessage
from tests.unit.center.center_helpers import DEVICE, make_bench

STATUS = f"rtcc/v1/{DEVICE}/status"


def _status(state: str, *, retained: bool = False) -> InboundMessage:
    doc = {"device_id": DEVICE, "state": state, "time": round(time.time(), 3), "shared_seq": -1}
    return InboundMessage(STATUS, json.dumps(doc).encode(), retained)


def test_what_waits_is_sent_again_whenever_the_device_says_it_is_online(tmp_path: Path, monkeypatch) -> None:
    bench = make_bench(tmp_path)
    told: list[str] = []
    intake = Intake(bench.center, load_keys(bench.center), DeviceRegistry(bench.center.devices), "rtcc/v1",
                    on_online=told.append)
    assert intake.handle(_status("online")) is not None
    assert told == [DEVICE]  # came online
    assert intake.handle(_status("online")) is not None
    assert told == [DEVICE]  # again at once: not before ONLINE_AGAIN_S
    monkeypatch.setattr(intake_module, "ONLINE_AGAIN_S", 0.0)
    assert intake.handle(_status("online")) is not None
    assert told == [DEVICE, DEVICE]  # online again with no offline between: a reconnection the center never saw
    assert intake.handle(_status("online", retained=True)) is not None
    assert intake.handle(_status("degraded")) is not None
    assert told == [DEVICE, DEVICE]  # a replay of the broker's store, or a camera state, is no reconnection
    assert intake.handle(_status("offline")) is not None
    assert intake.handle(_status("online")) is not None
    assert told == [DEVICE, DEVICE, DEVICE]
