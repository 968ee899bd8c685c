"""The page in a real browser: Debian's Chromium driven by Playwright against the page on a loopback port.

Screenshots of every page go to ``$EDGE_UI_SCREENSHOTS`` (``docs/screenshots`` to refresh the documentation's),
else to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.cli import main as cli_main
from edge_agent.consent.masking_inbox import MaskingInbox
from edge_agent.consent.state import ConsentStore
from edge_agent.ui import UiServer
from tests.chromium import ARGS, CHROMIUM, NEEDS_CHROMIUM, WAIT_MS
from tests.ui.ui_helpers import masking_request, police_request

pytestmark = NEEDS_CHROMIUM
sync_api = pytest.importorskip("playwright.sync_api")



@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, live_server: UiServer) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1200, "height": 860}, base_url=live_server.url.rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("EDGE_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pair(page: object, server: UiServer, capsys: pytest.CaptureFixture[str], shots: Path | None = None) -> None:
    assert cli_main(["--data-dir", str(server.context.paths.root), "ui", "pair"]) == 0
    code = capsys.readouterr().out.split("pairing code: ")[1].split()[0]
    page.goto("/")
    assert page.url.endswith("/pair")
    page.fill("#code", code)
    if shots is not None:
        page.screenshot(path=str(shots / "pair.png"))
    page.click("#pair-submit")
    page.wait_for_selector("#banner")


def test_pair_and_live_view(page: object, live_server: UiServer, capsys: pytest.CaptureFixture[str],
                            shots: Path) -> None:
    _pair(page, live_server, capsys, shots)
    assert page.locator("#banner").get_attribute("data-state") == "off"
    page.wait_for_selector("#snapshot[data-loaded]")
    page.locator("#camera-status", has_text=re.compile(r"^(Masking|Picture)")).wait_for()
    page.screenshot(path=str(shots / "live.png"))
    # The browser holds only a signed session cookie, HttpOnly and same-site.
    cookie = page.context.cookies()[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_draw_a_zone_by_clicks_and_save_it(page: object, live_server: UiServer,
                                           capsys: pytest.CaptureFixture[str], shots: Path) -> None:
    _pair(page, live_server, capsys)
    page.goto("/zones")
    page.wait_for_selector("#calibration[data-loaded]")
    page.click("#zone-new")
    canvas = page.locator("#zone-canvas")
    box = canvas.bounding_box()
    corners = [(0.60, 0.10), (0.95, 0.10), (0.95, 0.55), (0.65, 0.50)]
    for x, y in corners:
        canvas.click(position={"x": x * box["width"], "y": y * box["height"]})
    page.fill("#zone-name", "number 12")
    page.select_option("#zone-kind", "neighbour")
    # Move the last corner by dragging it.
    start = (box["x"] + 0.65 * box["width"], box["y"] + 0.50 * box["height"])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.62 * box["width"], box["y"] + 0.60 * box["height"], steps=4)
    page.mouse.up()
    page.click("#zone-save")
    page.wait_for_selector("#zone-message.ok")
    profile_zones = [z.name for z in live_server.context.profile.zones]
    assert f"Saved {len(profile_zones) + 1} zone" in page.text_content("#zone-message")
    saved = json.loads(live_server.context.zones.path.read_text())["zones"]
    assert [z["name"] for z in saved] == [*profile_zones, "number 12"]
    drawn = saved[-1]
    assert drawn["kind"] == "neighbour" and len(drawn["coordinates"]) == 4
    for (x, y), (sx, sy) in zip(corners[:3], drawn["coordinates"][:3], strict=True):
        assert abs(sx - x) < 0.01 and abs(sy - y) < 0.01
    assert abs(drawn["coordinates"][3][0] - 0.62) < 0.01 and abs(drawn["coordinates"][3][1] - 0.60) < 0.01
    page.screenshot(path=str(shots / "zones.png"))
    page.wait_for_selector("#calibration[data-loaded]")
    page.click("#zone-preview")
    page.wait_for_selector("#zone-canvas.hidden-zones")
    page.screenshot(path=str(shots / "zones-preview.png"))
    page.click("#scene-confirm")
    page.locator("#zone-message", has_text="Scene confirmed").wait_for()


def test_grant_then_revoke_consent(page: object, live_server: UiServer, capsys: pytest.CaptureFixture[str],
                                  shots: Path) -> None:
    _pair(page, live_server, capsys)
    store = ConsentStore(live_server.context.paths.consent)
    page.goto("/consent")
    page.select_option("#live-minutes", "30")
    page.click("#grant-live")
    page.wait_for_selector("#banner[data-state='live']")
    assert store.current().mode == "live"
    page.screenshot(path=str(shots / "consent.png"))
    page.click("#revoke")
    page.wait_for_selector("#banner[data-state='off']")
    assert "OFF" in page.text_content("#banner-text")
    assert store.current().mode == "off"


def test_approve_a_police_request(page: object, live_server: UiServer, capsys: pytest.CaptureFixture[str],
                                  shots: Path) -> None:
    _pair(page, live_server, capsys)
    assert page.locator("#requests-badge").count() == 0
    request_id = police_request(live_server.context)
    police_request(live_server.context, case_id="2025-0999", reason="hit and run on the corner")
    # The live page notices new requests by itself: a badge on Requests and a banner naming the first case.
    page.wait_for_selector("#requests-badge")
    assert page.text_content("#requests-badge").strip() == "2"
    assert "case 2025-0417" in page.text_content("#waiting-banner")
    page.screenshot(path=str(shots / "waiting.png"))
    page.click("#waiting-banner a.button")
    page.wait_for_url("**/requests")
    article = page.locator(f"#req-{request_id}")
    assert "burglary at number 12" in article.text_content()
    page.screenshot(path=str(shots / "requests.png"), full_page=True)
    article.locator("input[name=reason]").fill("the window is fine to share")
    article.locator("button[value=approved]").click()
    page.wait_for_selector(f"#req-{request_id}[data-state='approved']")
    assert page.text_content("#requests-badge").strip() == "1"
    page.goto("/audit")
    assert page.locator("#verify").get_attribute("data-ok") == "1"
    assert "request_answered" in page.text_content("table.log")
    page.screenshot(path=str(shots / "audit.png"), full_page=True)


def test_answer_a_neighbours_masking_request(page: object, live_server: UiServer,
                                            capsys: pytest.CaptureFixture[str], shots: Path) -> None:
    """The homeowner is told of a neighbour's request by the live page itself, draws a neighbour zone over the
    property, answers "masked by this zone", and declines another with a reason."""
    _pair(page, live_server, capsys)
    context = live_server.context
    masked_id = masking_request(context, "14 Elm Street", "the blue house \u202eand its driveway")
    declined_id = masking_request(context, "16 Elm Street", "the garden")
    page.wait_for_selector("#requests-badge")
    assert page.text_content("#requests-badge").strip() == "2"
    banner = page.text_content("#waiting-banner")
    assert "A neighbour asks you to mask their property (14 Elm Street)" in " ".join(banner.split())
    page.goto("/zones")
    page.wait_for_selector("#calibration[data-loaded]")
    page.click("#zone-new")
    canvas = page.locator("#zone-canvas")
    box = canvas.bounding_box()
    for x, y in [(0.05, 0.05), (0.40, 0.05), (0.40, 0.45), (0.05, 0.45)]:
        canvas.click(position={"x": x * box["width"], "y": y * box["height"]})
    page.fill("#zone-name", "number-14")
    page.select_option("#zone-kind", "neighbour")
    page.click("#zone-save")
    page.wait_for_selector("#zone-message.ok")
    page.goto("/requests")
    article = page.locator(f"#mask-{masked_id}")
    text = article.text_content()
    assert "the blue house and its driveway" in text and "\u202e" not in text
    page.screenshot(path=str(shots / "requests-neighbours.png"), full_page=True)
    article.locator("select[name=zone]").select_option("number-14")
    article.locator("button[value=masked]").click()
    page.wait_for_selector(f"#mask-{masked_id}[data-state='masked']")
    assert page.text_content("#requests-badge").strip() == "1"
    other = page.locator(f"#mask-{declined_id}")
    other.locator("input[name=reason]").fill("my camera does not see that garden")
    other.locator("button[value=declined]").click()
    page.wait_for_selector(f"#mask-{declined_id}[data-state='declined']")
    assert page.locator("#requests-badge").count() == 0
    entries = {e.id: e for e in MaskingInbox(context.paths).entries()}
    assert entries[masked_id].state == "masked" and entries[masked_id].zones == ("number-14",)
    assert entries[declined_id].reason == "my camera does not see that garden"
