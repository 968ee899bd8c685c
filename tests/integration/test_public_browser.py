"""The crime center's public page in a real browser (Debian's Chromium driven by Playwright), as a neighbour uses
it: read what the program is and its figures, ask for a property to be masked, and follow the private link to a
camera's signed still in which the property is black. Also on a phone-sized screen, and the signed JSON checked
with the key the page publishes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.public_figures import WHAT_DEVICES_DO
from edge_agent.center.public_page import create_public_app
from edge_agent.config.identity import load_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.consent.masking import AnswerZone, MaskingAnswer, Still
from edge_agent.seal.signed import sign_document, verify_document
from edge_agent.transport.model import InboundMessage
from edge_agent.web.serving import WebServer
from tests.chromium import ARGS, CHROMIUM, NEEDS_CHROMIUM, WAIT_MS
from tests.unit.center.center_helpers import DEVICE, Bench, make_bench

pytestmark = NEEDS_CHROMIUM
sync_api = pytest.importorskip("playwright.sync_api")

STILL_W, STILL_H = 320, 180
BLACK = (40, 20, 160, 100)  # x0, y0, x1, y1 of the neighbour's property in the still


@pytest.fixture
def public(tmp_path: Path) -> Iterator[tuple[Bench, WebServer]]:
    bench = make_bench(tmp_path)
    server = WebServer(create_public_app(bench.center), "127.0.0.1", 0, name="public").start()
    try:
        yield bench, server
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


def _masked_answer(bench: Bench, request_id: str) -> bytes:
    """The device's signed answer: masked, with a still of a grey view whose zone is black."""
    view = np.full((STILL_H, STILL_W, 3), 140, np.uint8)
    x0, y0, x1, y1 = BLACK
    view[y0:y1, x0:x1] = 0
    _, jpeg = cv2.imencode(".jpg", view)
    zone = AnswerZone("number-14", ((x0 / STILL_W, y0 / STILL_H), (x1 / STILL_W, y0 / STILL_H),
                                    (x1 / STILL_W, y1 / STILL_H), (x0 / STILL_W, y1 / STILL_H)))
    answer = MaskingAnswer(DEVICE, request_id, "masked", "", (zone,), "a" * 64,
                           Still(jpeg.tobytes(), STILL_W, STILL_H), (), time.time())
    return sign_document(answer.to_doc(), load_identity(bench.device).signing_key)


def test_a_neighbour_reads_the_page_asks_and_sees_the_masked_still(public, browser, tmp_path: Path) -> None:
    bench, server = public
    context = browser.new_context(viewport={"width": 1200, "height": 860}, base_url=server.url.rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto("/")
    assert page.locator("#devices-do li").count() == len(WHAT_DEVICES_DO)
    assert "How long footage is kept" in page.text_content("body")
    assert page.locator("#months tr[data-month]").count() == 12
    page.click("text=ask for it to be masked")
    page.wait_for_url("**/opt-out")
    page.fill("input[name=address]", "14 Elm Street, the blue house")
    page.fill("textarea[name=description]", "the house and its driveway")
    page.fill("input[name=point]", "52.5201, 13.4049")
    page.click("button[type=submit]")
    link = page.text_content("#private-link").strip()
    assert link.startswith(server.url + "opt-out/")

    # The center's subscriber sends the masking request; the device answers masked, with its still.
    desk = NeighbourDesk(bench.center)
    assert desk.dispatch(lambda topic, payload, **_: None, "rtcc/v1") == 1
    request_id = desk.asks()[0].devices[DEVICE]
    message = InboundMessage(f"rtcc/v1/{DEVICE}/masking-answer", _masked_answer(bench, request_id), retain=False)
    assert bench.intake().handle(message).status == "accepted"

    page.goto(link)
    page.wait_for_selector("#camera-1[data-state='masked']")
    assert "14 Elm Street, the blue house" in page.text_content("body") and DEVICE not in page.content()
    image = page.locator("#camera-1 img")
    image.scroll_into_view_if_needed()
    assert page.evaluate("() => { const i = document.querySelector('#camera-1 img');"
                         " return [i.complete, i.naturalWidth, i.naturalHeight]; }") == [True, STILL_W, STILL_H]
    shot = cv2.imdecode(np.frombuffer(image.screenshot(), np.uint8), cv2.IMREAD_GRAYSCALE)
    height, width = shot.shape
    x0, y0, x1, y1 = BLACK  # the middle of the zone, as the neighbour's browser draws it
    inside = shot[round(height * (y0 + 15) / STILL_H):round(height * (y1 - 15) / STILL_H),
                  round(width * (x0 + 15) / STILL_W):round(width * (x1 - 15) / STILL_W)]
    assert inside.size and int(inside.max()) <= 30 and float(shot.mean()) > 60

    # The signed copy anyone can archive, checked with the key the page itself publishes.
    key_file = tmp_path / "center.pub.json"
    key_file.write_bytes(page.request.get(server.url + "center.pub.json").body())
    _, _, center_key = load_center_identity(key_file)
    signed = page.request.get(server.url + "transparency.json")
    assert signed.headers["cache-control"] == "public, max-age=300"
    report = verify_document(signed.body(), center_key)
    assert report["type"] == "transparency" and report["program"]["devices_do"] == list(WHAT_DEVICES_DO)
    assert "Elm Street" not in signed.text()
    context.close()


def test_the_page_reads_on_a_phone(public, browser) -> None:
    """A neighbour on a phone: nothing wider than the screen but the month table, which scrolls in its own box."""
    _, server = public
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=server.url.rstrip("/"),
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    for path in ("/", "/opt-out"):
        page.goto(path)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    context.close()
