"""Start the homeowner's page inside the agent, fed by the agent's own frames."""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.config.models import Profile, Zone
from edge_agent.core.paths import DevicePaths
from edge_agent.ui.context import UiContext
from edge_agent.ui.daemonfeed import DaemonFeed
from edge_agent.ui.server import UiServer


def start_embedded_ui(paths: DevicePaths, profile: Profile, zones: Sequence[Zone]) -> tuple[DaemonFeed, UiServer]:
    feed = DaemonFeed(profile, zones)
    server = UiServer(UiContext(paths, profile, feed), profile.ui.listen).start()
    return feed, server
