"""The center's side of the neighbours' opt-out, in process: which devices are asked, hostile answers through the
intake (every one answered), the public page's locks, and its figures."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.center.neighbour_policy import OverduePolicy
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.places import Places, distance_km, parse_point
from edge_agent.center.public_figures import WHAT_DEVICES_DO, configure, public_report
from edge_agent.center.public_page import ASKS_PER_CLIENT, create_public_app
from edge_agent.config.identity import load_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.consent.masking import AnswerZone, MaskingAnswer, Still
from edge_agent.errors import CenterError
from edge_agent.seal.signed import sign_document, verify_document
from edge_agent.transport.model import InboundMessage
from tests.unit.center.center_helpers import DEVICE, Bench, make_bench

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return make_bench(tmp_path)


def _sent(bench: Bench, desk: NeighbourDesk) -> str:
    """An ask dispatched to the bench's device (published into a list): the masking request id."""
    desk.new_ask("14 Elm Street", "the driveway")
    published: list[tuple[str, bytes]] = []
    assert desk.dispatch(lambda topic, payload, **_: published.append((topic, payload)), "rtcc/v1") == 1
    assert published[0][0] == f"rtcc/v1/{DEVICE}/masking"
    return desk.asks()[0].devices[DEVICE]


def _answer(bench: Bench, request_id: str, **change: object) -> bytes:
    _, jpeg = cv2.imencode(".jpg", np.zeros((36, 64, 3), np.uint8))
    answer = MaskingAnswer(DEVICE, request_id, "masked", "", (AnswerZone("n14", ((0.1, 0.1), (0.5, 0.1),
                           (0.5, 0.5))),), "a" * 64, Still(jpeg.tobytes(), 64, 36), (), time.time())
    doc = {**answer.to_doc(), **change}
    return sign_document(doc, load_identity(bench.device).signing_key)


def _msg(payload: bytes, device: str = DEVICE) -> InboundMessage:
    return InboundMessage(f"rtcc/v1/{device}/masking-answer", payload, retain=False)


def test_devices_near_the_point_or_in_the_area_are_asked(bench: Bench) -> None:
    bench.enroll("door-near")
    bench.enroll("door-far")
    bench.enroll("door-area")
    places = Places(bench.center.root)
    places.set("door-near", "Elm St north", parse_point("52.5212,13.4049"))  # stored rounded
    places.set("door-far", "Harbour", (53.55, 9.99))
    places.set("door-area", "Elm St north")
    assert places.get("door-near").near == (52.52, 13.40)
    desk = NeighbourDesk(bench.center)
    by_point, _ = desk.new_ask("14 Elm St", point=(52.5201, 13.4049))
    by_area, _ = desk.new_ask("14 Elm St", area="Harbour")
    anywhere, _ = desk.new_ask("14 Elm St")
    # DEVICE has no place: asked anyway. door-area has only an area: asked when the neighbour named none.
    assert sorted(desk.devices_for(by_point)) == sorted([DEVICE, "door-near", "door-area"])
    assert sorted(desk.devices_for(by_area)) == sorted([DEVICE, "door-far"])
    assert len(desk.devices_for(anywhere)) == 4
    assert 1.0 < distance_km((52.52, 13.40), (52.53, 13.40)) < 1.2
    with pytest.raises(CenterError, match="LATITUDE,LONGITUDE"):
        parse_point("Elm Street 14")
    with pytest.raises(CenterError, match=r"-90\.\.90"):
        parse_point("91,0")


def test_every_answer_on_the_masking_answer_topic_is_answered(bench: Bench) -> None:
    desk = NeighbourDesk(bench.center)
    request_id = _sent(bench, desk)
    intake = bench.intake()
    stranger = bench.enroll("door-stranger")
    cases = [
        (_msg(b"junk"), "does not verify"),
        (_msg(_answer(bench, "m-0123456789abcdef")), "never sent"),
        (_msg(_answer(bench, request_id, decision="declined")), "gives a reason"),
        (_msg(sign_document({"type": "masking_answer"}, load_identity(stranger).signing_key), "door-stranger"),
         "missing field"),
        (_msg(_answer(bench, request_id), "door-stranger"), "does not verify"),
        (_msg(b"{}", "not-enrolled"), "not enrolled"),
    ]
    for message, reason in cases:
        result = intake.handle(message)
        assert result is not None and result.status == "rejected" and reason in result.reason, (reason, result)
    good = _answer(bench, request_id)
    assert intake.handle(_msg(good)).status == "accepted"
    assert intake.handle(_msg(good)).status == "duplicate"
    assert intake.handle(_msg(_answer(bench, request_id, reason="x"))).status == "duplicate"  # first one stands
    assert desk.answer(DEVICE, request_id).decision == "masked" and desk.still(request_id).startswith(b"\xff\xd8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=400))
def test_arbitrary_bytes_are_refused_not_raised(bench: Bench, payload: bytes) -> None:
    result = bench.intake().handle(_msg(payload))
    assert result is not None and result.status == "rejected"


def test_the_public_page_holds(bench: Bench) -> None:
    client = create_public_app(bench.center).test_client()
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 421
    assert client.post("/opt-out", data={"address": "x"}).status_code == 403  # no CSRF token
    csrf = CSRF.search(client.get("/opt-out").get_data(as_text=True)).group(1)
    bad = client.post("/opt-out", data={"csrf_token": csrf, "address": "x", "point": "somewhere"})
    assert bad.status_code == 400 and "LATITUDE,LONGITUDE" in bad.get_data(as_text=True)
    for i in range(ASKS_PER_CLIENT):
        sent = client.post("/opt-out", data={"csrf_token": csrf, "address": f"{i} Elm \u202eStreet"})
        assert sent.status_code == 200
    assert client.post("/opt-out", data={"csrf_token": csrf, "address": "one more"}).status_code == 429
    token = re.search(r"/opt-out/([^<]+)</code>", sent.get_data(as_text=True)).group(1)
    status = client.get(f"/opt-out/{token}").get_data(as_text=True)
    assert f"{ASKS_PER_CLIENT - 1} Elm Street" in status and "\u202e" not in status
    assert len(NeighbourDesk(bench.center).asks()) == ASKS_PER_CLIENT
    assert client.get("/opt-out/" + "x" * 200).status_code == 404


def test_figures_count_asks_and_answers_by_month(bench: Bench) -> None:
    desk = NeighbourDesk(bench.center)
    request_id = _sent(bench, desk)
    bench.intake().handle(_msg(_answer(bench, request_id)))
    report = public_report(bench.center)
    month = report.months[-1]
    assert (month.neighbour_asks, month.masking_requests, month.masked, month.declined) == (1, 1, 1, 0)
    assert report.devices_by_area == {"area not given": 1} and month.devices_enrolled == {"area not given": 1}
    assert report.months[0].month < month.month and len(report.months) == 12


def test_behind_a_proxy_each_client_has_its_own_ask_limit(bench: Bench) -> None:
    client = create_public_app(bench.center, ["transparency.example"], behind_proxy=True).test_client()
    headers = {"X-Forwarded-Host": "transparency.example", "X-Forwarded-Proto": "https"}
    csrf = CSRF.search(client.get("/opt-out", headers=headers).get_data(as_text=True)).group(1)
    for i in range(ASKS_PER_CLIENT + 2):  # more than one address's allowance, from as many addresses
        sent = client.post("/opt-out", data={"csrf_token": csrf, "address": f"{i} Elm St"},
                           headers={**headers, "X-Forwarded-For": f"198.51.100.{i}",
                                    "Origin": "https://transparency.example"})
        assert sent.status_code == 200, sent.get_data(as_text=True)
    assert "https://transparency.example/opt-out/" in sent.get_data(as_text=True)


def test_the_signed_json_says_what_the_page_says_about_the_program(bench: Bench, tmp_path: Path) -> None:
    """What the program is, what the devices mask and how long footage is kept are in the signed copy too: a later
    page promising something else would not match an archived one."""
    configure(bench.center, name="Elm Street doorbell program", retention="90 days, unless a case needs it")
    client = create_public_app(bench.center).test_client()
    key_file = tmp_path / "center.pub.json"
    key_file.write_bytes(client.get("/center.pub.json").data)  # only what anyone can fetch from the page
    _, _, center_key = load_center_identity(key_file)
    program = verify_document(client.get("/transparency.json").data, center_key)["program"]
    assert program["name"] == "Elm Street doorbell program"
    assert program["retention"]["center"] == "90 days, unless a case needs it"
    assert program["retention"]["device_default_hours"] == 72.0 and program["retention"]["device_max_hours"] == 168.0
    assert program["devices_do"] == list(WHAT_DEVICES_DO) and any("masked" in s for s in WHAT_DEVICES_DO)
    page = html.unescape(client.get("/").get_data(as_text=True))
    assert program["retention"]["device"] in page and "At the center: 90 days, unless a case needs it" in page
    assert all(statement in page for statement in program["devices_do"])
    assert "<h1>Elm Street doorbell program</h1>" in page
    assert program["refuses_live_when_neighbour_unanswered"] is False
    assert "does not stop taking live video" in page
    OverduePolicy(bench.center).set(True)
    fresh = create_public_app(bench.center).test_client()  # the report is cached for five minutes
    assert verify_document(fresh.get("/transparency.json").data, center_key)["program"][
        "refuses_live_when_neighbour_unanswered"] is True
    shown_now = " ".join(fresh.get("/").get_data(as_text=True).split())
    assert "takes no live video from a camera whose owner left" in shown_now


def test_a_map_point_alone_names_the_property(bench: Bench) -> None:
    """The neighbour may give a street address or a map point: the point alone is enough, neither is refused."""
    client = create_public_app(bench.center).test_client()
    csrf = CSRF.search(client.get("/opt-out").get_data(as_text=True)).group(1)
    neither = client.post("/opt-out", data={"csrf_token": csrf, "address": " ", "description": "the garden"})
    assert neither.status_code == 400 and "or a map point" in neither.get_data(as_text=True)
    sent = client.post("/opt-out", data={"csrf_token": csrf, "address": "", "description": "the garden",
                                         "point": "52.52011, 13.40495"})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    when = r"<time>\d{2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2} UTC</time>"  # a date a neighbour reads, not epoch seconds
    assert re.search("until " + when, sent.get_data(as_text=True))
    token = re.search(r"/opt-out/([^<]+)</code>", sent.get_data(as_text=True)).group(1)
    desk = NeighbourDesk(bench.center)
    (ask,) = desk.asks()
    assert ask.address == "the property at map point 52.52011, 13.40495" and ask.description == "the garden"
    published: list[bytes] = []
    assert desk.dispatch(lambda topic, payload, **_: published.append(payload), "rtcc/v1") == 1
    assert b"the property at map point 52.52011, 13.40495" in published[0]  # what the homeowner is shown
    assert re.search("until " + when, client.get(f"/opt-out/{token}").get_data(as_text=True))


def test_anyone_can_check_a_kept_copy_with_the_pages_own_checker(bench: Bench, tmp_path: Path) -> None:
    """The three files from the page, run as a stranger would: the checker alone (no edge-agent on the path)."""
    client = create_public_app(bench.center).test_client()
    files = {}
    for name in ("transparency.json", "center.pub.json", "verify_transparency.py"):
        response = client.get("/" + name)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "public, max-age=300"
        files[name] = tmp_path / name
        files[name].write_bytes(response.data)

    def run(report: Path, key: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-I", str(files["verify_transparency.py"]), str(report), str(key)],
                              capture_output=True, text=True, cwd=tmp_path, check=False)

    good = run(files["transparency.json"], files["center.pub.json"])
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("VALID: signed by center unit-center")
    assert "footage kept: On the device" in good.stdout
    tampered = tmp_path / "tampered.json"
    original = files["transparency.json"].read_bytes()
    tampered.write_bytes(original.replace(b'"neighbour_asks":0', b'"neighbour_asks":9', 1))
    assert tampered.read_bytes() != original
    changed = run(tampered, files["center.pub.json"])
    assert changed.returncode == 1 and "changed after the center signed it" in changed.stdout
    other = make_bench(tmp_path / "other").center.public
    assert run(files["transparency.json"], other).returncode == 1  # another center's key
    assert run(tmp_path / "missing.json", files["center.pub.json"]).returncode == 2
