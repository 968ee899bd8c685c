"""A neighbour's opt-out end to end on a real Mosquitto: the public page takes the ask, the center's subscriber
sends a signed masking request to the device near it (not to the far one), the homeowner draws a zone, the device
answers with a still whose zone is black, and the neighbour's private link shows it; a declined one; the signed
transparency JSON; the center's policy on requests left unanswered."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge_agent.center.keys import CenterPaths, add_device, load_keys
from edge_agent.center.neighbour_policy import OverduePolicy
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.places import Places
from edge_agent.center.public_page import create_public_app
from edge_agent.cli import main
from edge_agent.config.identity import init_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.consent import api
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.seal.signed import verify_document
from tests.integration.spine_helpers import CenterThread, grant_live, make_setup, wait_for

DEVICE = "door-elm"
ZONE = [(0.05, 0.05), (0.40, 0.05), (0.40, 0.45), (0.05, 0.45)]
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _enrol_far_device(setup, tmp_path: Path) -> str:
    far = DevicePaths(tmp_path / "far")
    add_device(setup.center, init_identity(far, "door-far"))
    Places(setup.center.root).set("door-far", "Harbour", (53.55, 9.99))
    return "door-far"


def _ask(client, address: str, description: str, point: str = "52.5201, 13.4049") -> str:
    form = client.get("/opt-out").get_data(as_text=True)
    csrf = TOKEN.search(form).group(1)
    sent = client.post("/opt-out", data={"csrf_token": csrf, "address": address, "description": description,
                                         "point": point, "area": ""})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    link = re.search(r'<code id="private-link">http://localhost/opt-out/([^<]+)</code>', sent.get_data(as_text=True))
    assert link, sent.get_data(as_text=True)
    return link.group(1)


def _zone_black(jpeg: bytes) -> int:
    still = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    height, width = still.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.array([[round(x * width), round(y * height)] for x, y in ZONE], np.int32)], 255)
    inside = still[cv2.erode(mask, np.ones((7, 7), np.uint8)) > 0]
    assert inside.size
    return int(inside.max())


def _waiting_ids(paths: DevicePaths) -> list[str]:
    return [item.id for item in api.waiting(paths) if item.kind == "masking"]


def test_a_neighbours_opt_out_end_to_end(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url, device_id=DEVICE)
    Places(setup.center.root).set(DEVICE, "Elm St north", (52.52, 13.40))
    far = _enrol_far_device(setup, tmp_path)
    public = create_public_app(setup.center).test_client()
    masked_token = _ask(public, "14 Elm Street", "the blue house and its driveway")
    declined_token = _ask(public, "16 Elm Street", "the garden")
    data = str(setup.device.root)
    agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=60.0))
    device = threading.Thread(target=agent.run, daemon=True)
    desk = NeighbourDesk(setup.center)
    with CenterThread(setup):
        device.start()
        try:
            assert wait_for(lambda: len(_waiting_ids(setup.device)) == 2, timeout=30)
            first, second = sorted(api.list_masking(setup.device), key=lambda e: e.request.property)
            assert first.request.property == "14 Elm Street" and first.request.area == "Elm St north"
            points = " ".join(f"{x},{y}" for x, y in ZONE)
            assert main(["--data-dir", data, "requests", "mask", first.id, "--zone", "number-14", "--points",
                         points, "--profile", str(setup.profile)]) == 0
            assert main(["--data-dir", data, "requests", "decline", second.id, "--reason",
                         "the garden is not in my camera's view"]) == 0
            assert wait_for(lambda: all(desk.answer(DEVICE, e.id) for e in (first, second)), timeout=40)
        finally:
            agent.stop_event.set()
            device.join(timeout=40)

    asks = {a.address: a for a in desk.asks()}
    assert set(asks["14 Elm Street"].devices) == {DEVICE}  # near the point; the Harbour device was not asked
    assert far not in asks["16 Elm Street"].devices
    status = public.get(f"/opt-out/{masked_token}")
    assert status.status_code == 200 and status.headers["Cache-Control"] == "no-store"
    page = status.get_data(as_text=True)
    assert 'data-state="masked"' in page and "Camera 1 (Elm St north)" in page and DEVICE not in page
    still = public.get(f"/opt-out/{masked_token}/still/1.jpg")
    assert still.status_code == 200 and still.mimetype == "image/jpeg"
    assert _zone_black(still.data) <= 24  # the neighbour sees their property black in the camera's own view
    answer = desk.answer(DEVICE, first.id)
    assert answer is not None and answer.still is not None and answer.still.jpeg == still.data
    declined = public.get(f"/opt-out/{declined_token}").get_data(as_text=True)
    assert 'data-state="declined"' in declined and "the garden is not in my camera&#39;s view" in declined
    assert public.get("/opt-out/not-a-real-token-at-all-0000").status_code == 404
    assert public.get(f"/opt-out/{declined_token}/still/1.jpg").status_code == 404

    center_kinds = [e["kind"] for e in AuditLog(desk.audit.path).entries()]
    assert center_kinds.count("neighbour_asked") == 2 and center_kinds.count("masking_sent") == 2
    assert center_kinds.count("masking_answer") == 2
    device_kinds = [e["kind"] for e in AuditLog(setup.device.audit).entries()]
    assert device_kinds.count("masking_answer_published") == 2

    public = create_public_app(setup.center).test_client()  # the figures are cached for 5 minutes: a fresh page
    index = public.get("/")
    assert index.status_code == 200 and index.headers["Cache-Control"] == "public, max-age=300"
    assert "Elm St north" in index.get_data(as_text=True) and "14 Elm" not in index.get_data(as_text=True)
    signed = public.get("/transparency.json")
    _, _, center_key = load_center_identity(setup.center.public)
    report = verify_document(signed.data, center_key)
    this_month = report["months"][-1]
    assert report["type"] == "transparency" and report["devices_by_area"] == {"Elm St north": 1, "Harbour": 1}
    assert (this_month["neighbour_asks"], this_month["masking_requests"]) == (2, 2)
    assert (this_month["masked"], this_month["declined"]) == (1, 1)
    assert (this_month["segments_viewed"], this_month["segments_exported"]) == (0, 0)  # from the access log
    assert report["access_log_entries"] == 0 and len(report["access_log_head"]) == 64
    assert this_month["devices_enrolled"] == {"Elm St north": 1, "Harbour": 1}
    assert "Elm Street" not in signed.get_data(as_text=True)  # never an address
    assert public.get("/", headers={"Host": "evil.example"}).status_code == 421


def test_the_center_refuses_live_segments_while_a_masking_request_is_overdue(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url, device_id=DEVICE)
    desk = NeighbourDesk(setup.center)
    policy = OverduePolicy(setup.center)
    policy.set(True)
    ask, _ = desk.new_ask("14 Elm Street", "the driveway", ttl_s=6.0)
    grant_live(setup)
    data = str(setup.device.root)
    agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=90.0))
    device = threading.Thread(target=agent.run, daemon=True)
    with CenterThread(setup) as center:
        device.start()
        try:
            # Unanswered past its deadline: the device answers "expired", and live segments are refused.
            assert wait_for(lambda: policy.overdue(DEVICE) != "", timeout=30)
            assert wait_for(lambda: any("masking request" in k for k in center.counts), timeout=20)
            refused_before = center.counts["rejected"]
            stored_before = center.counts["stored"]
            assert refused_before > 0
            # Staff give it a new deadline; the homeowner answers; live segments are stored again.
            desk.extend(ask.id, ttl_s=600.0)
            assert wait_for(lambda: len(_waiting_ids(setup.device)) == 1, timeout=30)
            assert main(["--data-dir", data, "requests", "decline", _waiting_ids(setup.device)[0], "--reason",
                         "not visible from here"]) == 0
            assert wait_for(lambda: policy.overdue(DEVICE, time.time() + 10) == "", timeout=30)
            assert wait_for(lambda: center.counts["stored"] > stored_before + 1, timeout=30)
        finally:
            agent.stop_event.set()
            device.join(timeout=40)
    rejected = [json.loads(line) for line in CenterPaths(setup.center.root).rejected.read_text().splitlines()]
    assert any("unanswered past its deadline" in r["reason"] for r in rejected)
    assert "neighbour_policy" in [e["kind"] for e in AuditLog(desk.audit.path).entries()]
    assert load_keys(setup.center).identity.center_id == "test-center"
