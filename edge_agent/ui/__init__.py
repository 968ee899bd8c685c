"""The homeowner's local web page: pairing, live view, zones, consent, police requests and the audit log.

Build a :class:`UiServer` from a :class:`UiContext` (the data folder, the profile and a :class:`Feed` of redacted
pictures) and start it; ``edge-agent ui`` does this from the command line.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.ui.context import UiContext
    from edge_agent.ui.feed import Feed, Snapshot, SourceFeed
    from edge_agent.ui.listen import parse_listen
    from edge_agent.ui.server import UiServer
    from edge_agent.ui.webapp import create_app

__all__ = ["Feed", "Snapshot", "SourceFeed", "UiContext", "UiServer", "create_app", "parse_listen"]

# Loaded on first use: importing one flask-free part (the access store, the listen address) must not load the
# web stack for a process that never serves the page.
_HOMES = {
    "Feed": "feed",
    "Snapshot": "feed",
    "SourceFeed": "feed",
    "UiContext": "context",
    "UiServer": "server",
    "create_app": "webapp",
    "parse_listen": "listen",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"edge_agent.ui.{_HOMES[name]}"), name)
