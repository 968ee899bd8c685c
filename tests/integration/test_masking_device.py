"""A neighbour's masking request at the device, on a real broker with the running agent: the homeowner is told,
draws a neighbour zone and answers, and the device sends a signed answer whose still is black over the new zone;
a declined one carries the reason; a flood of junk on the masking topic cannot push a genuine request out."""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np

from edge_agent.center.keys import load_keys
from edge_agent.cli import main
from edge_agent.config.identity import load_identity
from edge_agent.config.keys import load_device_identity
from edge_agent.consent import api
from edge_agent.consent.masking import make_masking_request, parse_masking_answer
from edge_agent.core.audit import AuditLog
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.seal.signed import verify_document
from edge_agent.transport.mqtt import InboundMessage, MqttLink
from edge_agent.transport.topics import Topics
from tests.integration.spine_helpers import make_setup, wait_for

DEVICE = "door-mask"
ZONE = [(0.05, 0.05), (0.40, 0.05), (0.40, 0.45), (0.05, 0.45)]  # over the porch side: visible before


class CenterSide:
    """What the center does on the broker: send masking requests, read the answers."""

    def __init__(self, url: str, setup) -> None:
        self.keys = load_keys(setup.center)
        self.topics = Topics("rtcc/v1", DEVICE)
        self.answers: list[InboundMessage] = []
        self.link = MqttLink(url, client_id="center-side", on_message=self.answers.append)
        self.link.subscribe(self.topics.masking_answer, qos=1)
        self.link.connect(timeout=5)

    def ask(self, prop: str, description: str) -> str:
        request, wire = make_masking_request(self.keys.ed25519, device_id=DEVICE, center_id="test-center",
                                             property=prop, description=description, area="Elm St north")
        assert self.link.publish(self.topics.masking, wire, qos=1).wait(5)
        return request.id

    def junk(self, count: int) -> None:
        for i in range(count):
            self.link.publish(self.topics.masking, b'{"doc":{"type":"masking_request"},"kid":"x","sig":"%d"}' % i,
                              qos=0)


def _zone_pixels(width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    corners = np.array([[round(x * width), round(y * height)] for x, y in ZONE], np.int32)
    cv2.fillPoly(mask, [corners], 255)
    return cv2.erode(mask, np.ones((7, 7), np.uint8)) > 0  # away from the edge: JPEG rings there


def test_masking_request_end_to_end_at_the_device(tmp_path, mosquitto, capsys):
    setup = make_setup(tmp_path, mosquitto.url, device_id=DEVICE)
    data = str(setup.device.root)
    center = CenterSide(mosquitto.url, setup)
    agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=40.0))
    device = threading.Thread(target=agent.run, daemon=True)
    device.start()
    try:
        assert wait_for(lambda: agent.uplink is not None and agent.uplink.link.connected, timeout=15)
        center.junk(2000)  # a flood first: the genuine requests behind it still arrive
        masked_id = center.ask("14 Elm Street", "the blue house and its driveway")
        declined_id = center.ask("16 Elm Street", "the garden")
        assert wait_for(lambda: len(api.waiting(setup.device)) == 2, timeout=20)
        assert main(["--data-dir", data, "status"]) == 0
        out = capsys.readouterr().out
        assert f"{masked_id}  neighbour's masking request for 14 Elm Street" in out

        points = " ".join(f"{x},{y}" for x, y in ZONE)
        assert main(["--data-dir", data, "requests", "mask", masked_id, "--zone", "number-14", "--points", points,
                     "--profile", str(setup.profile)]) == 0
        assert main(["--data-dir", data, "requests", "decline", declined_id, "--reason",
                     "that garden is not in my view"]) == 0
        assert wait_for(lambda: len(center.answers) >= 2, timeout=40)
    finally:
        agent.stop_event.set()
        device.join(timeout=40)
        center.link.stop()

    _, device_key = load_device_identity(setup.device.public)
    answers = {}
    for message in center.answers:
        answer = parse_masking_answer(verify_document(message.payload, device_key))
        answers[answer.request_id] = answer
    masked, declined = answers[masked_id], answers[declined_id]
    assert masked.decision == "masked" and [z.name for z in masked.zones] == ["number-14"]
    assert masked.zones[0].coordinates == tuple(ZONE)
    assert masked.still is not None and masked.profile_hash == agent.loop.policy.hash
    still = cv2.imdecode(np.frombuffer(masked.still.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert still.shape[:2] == (masked.still.height, masked.still.width)
    inside = still[_zone_pixels(still.shape[1], still.shape[0])]
    assert inside.size and int(inside.max()) <= 24, int(inside.max())  # the neighbour's property is black
    assert float(still.mean()) > 40  # and the rest of the view is a picture, not a blank frame
    assert declined.decision == "declined" and declined.reason == "that garden is not in my view"
    assert declined.still is None and not declined.zones

    kinds = [e["kind"] for e in AuditLog(setup.device.audit).entries()]
    assert kinds.count("masking_received") == 2 and kinds.count("masking_answered") == 2
    assert kinds.count("masking_answer_published") == 2 and "zones_change" in kinds
    rejected = [e for e in AuditLog(setup.device.audit).entries() if e["kind"] == "masking_rejected"]
    total = agent.masking.rejections.total
    assert total > 1000 and 1 <= len(rejected) <= 10  # up to 2,000 junk messages: a bounded number of entries
    written = sum(1 for e in rejected if not e["problem"].endswith("not written one by one"))
    assert written + sum(e.get("suppressed_before", 0) for e in rejected) == total  # every one counted
    assert load_identity(setup.device).device_id == DEVICE
    assert json.loads((setup.device.root / "masking" / f"{masked_id}.json").read_text())["published"] is True
