"""The crime center's console in Debian's Chromium (Playwright), on a real center: a real Mosquitto, the agent
running live on the synthetic scene, the subscriber storing and indexing, the console serving.

In order: sign in; a live tile plays (its video's clock advances); send a request; attach the live footage to a
case, find it by case and play it; export the case and verify the bundle offline; the access log holds an entry
for each look; the owner stops sharing and the tile leaves the wall.

Screenshots go to ``$EDGE_UI_SCREENSHOTS`` (``docs/screenshots`` refreshes the documentation's), else a
temporary folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_agent.center.config import save_settings
from edge_agent.center.console import ConsoleContext, ConsoleServer
from edge_agent.center.services import Center
from edge_agent.cli import main as agent_main
from edge_agent.config.loader import load_profile
from edge_agent.config.models import CenterSettings
from edge_agent.devbroker import MOSQUITTO, MosquittoBroker
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.device.homeowner import grant_live
from tests.chromium import ARGS as CHROMIUM_ARGS
from tests.chromium import CHROMIUM, NEEDS_CHROMIUM, WAIT_MS
from tests.integration.spine_helpers import CenterThread, Setup, make_setup, wait_for

pytestmark = [NEEDS_CHROMIUM,
              pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")]
sync_api = pytest.importorskip("playwright.sync_api")

# The live wall's video plays without a click.
ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
PASSWORD = "correct horse battery"
DEVICE = "test-device"


@dataclass
class World:
    setup: Setup
    console: ConsoleServer
    center: Center
    agent: Agent
    shots: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("console")
    broker = MosquittoBroker(tmp / "broker")
    broker.start()
    setup = make_setup(tmp, broker.url, DEVICE)
    save_settings(setup.center, CenterSettings(broker=broker.url))
    profile, _ = load_profile(str(setup.profile))
    grant_live(setup.device, profile, until=time.time() + 1800)
    center = Center.open(setup.center)
    center.staff.add("officer", ["operator", "investigator", "auditor"], PASSWORD)
    console = ConsoleServer(ConsoleContext(center, frozenset({"127.0.0.1", "localhost"})), "127.0.0.1:0").start()
    agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile)))
    shots = Path(os.environ.get("EDGE_UI_SCREENSHOTS") or tmp / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with CenterThread(setup):
        runner = threading.Thread(target=agent.run, daemon=True)
        runner.start()
        try:
            assert wait_for(lambda: len(list((setup.center.store / DEVICE).glob("*.json"))) >= 3, timeout=60)
            yield World(setup, console, center, agent, shots)
        finally:
            agent.stop_event.set()
            runner.join(timeout=30)
            console.stop()
            center.close()
            broker.stop()


@pytest.fixture(scope="module")
def page(world: World) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True,
                                      base_url=world.console.url.rstrip("/"))
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        yield page
        browser.close()


def _until(page: object, expression: str, timeout: float = WAIT_MS / 1000) -> None:
    """Poll ``expression`` until it is true (wait_for_function would need 'unsafe-eval', which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout:.0f} s: {expression}"
        time.sleep(0.2)


def _actions(world: World) -> list[str]:
    return [e.action for e in world.center.access.entries(limit=10_000)]


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


def test_1_sign_in_and_a_live_tile_plays(page: object, world: World) -> None:
    page.goto("/")
    assert "/login" in page.url
    page.screenshot(path=str(world.shots / "console-login.png"))
    page.fill("#name", "officer")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector(f'#wall figure.tile[data-device="{DEVICE}"]')
    video = f"#live-{DEVICE}"
    _until(page, f"document.querySelector('{video}').dataset.frames > 10")
    first = page.evaluate(f"document.querySelector('{video}').currentTime")
    _until(page, f"document.querySelector('{video}').currentTime > {first} + 1.5")
    # The video's clock is the capture clock: what is on screen was captured seconds ago, not hours.
    behind = float(page.evaluate(f"document.querySelector('{video}').dataset.behind"))
    assert 0 < behind < 60
    # The tile says the device shares live and how long its owner's grant has left (30 min when the world began).
    caption = page.inner_text(f'#wall figure.tile[data-device="{DEVICE}"] figcaption')
    left = re.search(r"LIVE\s+(\d+) min left", caption)
    assert left and 0 < int(left.group(1)) <= 30, caption
    page.screenshot(path=str(world.shots / "console-wall.png"))
    assert "view_live" in _actions(world)


def test_2_send_a_request(page: object, world: World) -> None:
    page.goto("/requests")
    now = time.time()
    page.fill("#req-start", _utc(now - 120))
    page.fill("#req-end", _utc(now - 60))
    page.fill("#req-case", "CASE-REQ-1")
    page.fill("#req-reason", "a parcel taken from the porch next door")
    page.fill("#req-basis", "warrant 7/2026")
    page.fill("#req-expires", "2h")
    page.click("#req-send")
    page.wait_for_selector(".flash.ok")
    assert "sent to test-device" in page.inner_text(".flash.ok")
    sent = world.center.index.requests(case_id="CASE-REQ-1")
    assert len(sent) == 1 and (sent[0].reason, sent[0].legal_basis) == ("a parcel taken from the porch next door",
                                                                         "warrant 7/2026")
    assert sent[0].expires_at - sent[0].issued_at == pytest.approx(7200, abs=1)
    assert page.locator("#requests tr").count() == 2
    page.screenshot(path=str(world.shots / "console-requests.png"))


def test_3_find_live_footage_by_case_and_play_it(page: object, world: World) -> None:
    rows = world.center.index.recent(DEVICE, -1, 0, limit=1000)
    assert len(rows) >= 3
    page.goto("/evidence?case=CASE-LIVE-1")
    page.select_option("#window-form select[name=device]", DEVICE)
    page.fill("#window-form input[name=from]", _utc(rows[0].start))
    page.fill("#window-form input[name=to]", _utc(rows[2].end + 1))
    page.fill("#window-form input[name=note]", "someone tries the door handles")
    page.click("#window-form button")
    page.wait_for_selector("#results tr.segment")
    assert page.locator("#results tr.segment").count() >= 3
    page.screenshot(path=str(world.shots / "console-evidence.png"), full_page=True)
    page.click("#results tr.segment a.play")
    _until(page, "document.querySelector('#recorded').dataset.frames > 5")
    start = page.evaluate("document.querySelector('#recorded').currentTime")
    _until(page, f"document.querySelector('#recorded').currentTime > {start} + 1")
    assert abs(start - rows[0].start) < 3600  # the player's clock is the capture time of the footage
    page.screenshot(path=str(world.shots / "console-play.png"))
    recorded = world.center.access.entries(action="view_recorded", limit=100)
    assert recorded and all(e.case_id == "CASE-LIVE-1" and e.staff == "officer" for e in recorded)


def test_4_export_the_case_and_verify_the_bundle_offline(page: object, world: World, tmp_path: Path) -> None:
    page.goto("/evidence?case=CASE-LIVE-1")
    with page.expect_download() as download:
        page.click("#export")
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(str(bundle))
    script = tmp_path / "alone" / "verify_bundle.py"
    script.parent.mkdir()
    with zipfile.ZipFile(bundle) as archive:
        script.write_bytes(archive.read("verify_bundle.py"))
    proc = subprocess.run([sys.executable, "-I", str(script), str(bundle)], cwd=script.parent, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("BUNDLE VERIFIED")


def test_5_the_access_log_holds_every_look(page: object, world: World) -> None:
    page.goto("/access-log")
    assert "Chain intact" in page.inner_text("#chain")
    shown = page.eval_on_selector_all("#access-log tr.entry", "rows => rows.map(r => r.dataset.action)")
    for action in ("login", "view_live", "request", "case_window", "search", "view_recorded", "export"):
        assert action in shown, action
    page.screenshot(path=str(world.shots / "console-access-log.png"))
    page.goto("/transparency")
    assert page.locator("#transparency tr").count() >= 2
    page.screenshot(path=str(world.shots / "console-transparency.png"))
    page.goto("/devices")
    assert "online" in page.inner_text(f'#devices tr[data-device="{DEVICE}"]')
    page.screenshot(path=str(world.shots / "console-devices.png"))


def test_6_a_device_that_stops_sharing_leaves_the_wall(page: object, world: World) -> None:
    page.goto("/wall")
    tile = f'#wall figure.tile[data-device="{DEVICE}"]'
    page.wait_for_selector(tile)
    assert agent_main(["--data-dir", str(world.setup.device.root), "consent", "revoke", "--profile",
                       str(world.setup.profile)]) == 0
    page.wait_for_selector(tile, state="detached")
    page.wait_for_selector("#wall-empty", state="visible")
    response = page.request.get(f"/api/live/{DEVICE}/segments")
    assert response.json() == {"live": False, "segments": []}
