"""An unpaced source is processed whole: the capture thread waits for room instead of dropping frames."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config.identity import init_identity
from edge_agent.core.paths import DevicePaths
from edge_agent.device.daemon import Agent, RunOptions

PROFILE = """
name = "unpaced"
[camera]
source = "synthetic"
width = 320
height = 180
fps = 10
detect_width = 160
detect_height = 90
[segment]
seconds = 1
live_seconds = 1
"""


def test_unpaced_run_drops_no_frame(tmp_path: Path) -> None:
    device = DevicePaths(tmp_path / "device")
    init_identity(device, "unpaced-device")
    profile = tmp_path / "p.toml"
    profile.write_text(PROFILE)
    agent = Agent(RunOptions(data_dir=device.root, profile=str(profile), source="synthetic", duration=2.0,
                             realtime=False))
    summary = agent.run()
    # The scene renders far faster than frames are redacted, so a dropping capture thread would drop many here.
    assert summary.frames > 20
    assert summary.events["frames_dropped"] == 0
    assert summary.segments >= 2
