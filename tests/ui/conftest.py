"""Fixtures for the homeowner's page: a data folder, a small profile, and the page served on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config.loader import load_profile
from edge_agent.config.models import CameraSettings, Profile
from edge_agent.core.paths import DevicePaths
from edge_agent.ui import SourceFeed, UiContext, UiServer


@pytest.fixture
def small_profile() -> Profile:
    profile, _ = load_profile(None)
    camera = CameraSettings(width=640, height=360, fps=10.0, detect_width=320, detect_height=180)
    return profile.model_copy(update={"camera": camera})


@pytest.fixture
def context(tmp_path: Path, small_profile: Profile) -> UiContext:
    return UiContext(DevicePaths(tmp_path / "data"), small_profile, None)


@pytest.fixture
def live_server(context: UiContext) -> Iterator[UiServer]:
    """The page with a real synthetic camera behind it (passers-by, a porch, cars), redacted in this process."""
    context.feed = SourceFeed(context.profile, context.zones.load(), "synthetic:people=2,seed=3").start()
    server = UiServer(context, "127.0.0.1:0").start()
    try:
        yield server
    finally:
        server.stop()
