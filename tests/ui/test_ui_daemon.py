"""The page served by the agent itself: its live view is the agent's own redacted output."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edge_agent.cli.device import serve_page
from edge_agent.config.identity import init_identity
from edge_agent.core.paths import DevicePaths
from edge_agent.device.daemon import Agent, RunOptions
from tests.integration.spine_helpers import SMALL_PROFILE
from tests.ui.test_ui_live import Browser, _region


def test_agent_serves_the_page_with_its_own_redacted_frames(tmp_path: Path) -> None:
    profile = tmp_path / "ui.toml"
    profile.write_text(SMALL_PROFILE.replace("[segment]", '[ui]\nenabled = true\nlisten = "127.0.0.1:0"\n[segment]'))
    init_identity(DevicePaths(tmp_path / "device"), "ui-device")
    agent = Agent(RunOptions(data_dir=tmp_path / "device", profile=str(profile), duration=20.0, serve_page=serve_page))
    runner = threading.Thread(target=agent.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 15
        while agent.page is None and time.monotonic() < deadline:
            time.sleep(0.1)
        server = agent.page
        assert server is not None, "the agent did not start its page"
        browser = Browser(server)
        browser.pair(server)
        shared = browser.image("/snapshot.jpg")
        assert shared.shape[:2] == (180, 320)
        assert int(_region(shared, 0.70, 0.0, 1.0, 0.62, margin=4).max()) <= 16  # the neighbour's house: black
        calib = browser.image("/zones/calibration.jpg")
        assert float(_region(calib, 0.70, 0.0, 1.0, 0.62, margin=4).mean()) > 40  # visible, to draw around
        assert agent.summary.frames > 0
    finally:
        agent.stop_event.set()
        runner.join(timeout=20)
    assert not runner.is_alive()
