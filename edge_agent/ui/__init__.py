"""The homeowner's local web page: pairing, live view, zones, consent, police requests and the audit log.

Build a :class:`UiServer` from a :class:`UiContext` (the data folder, the profile and a :class:`Feed` of redacted
pictures) and start it; ``edge-agent ui`` does this from the command line.
"""

from __future__ import annotations

from edge_agent.ui.context import UiContext
from edge_agent.ui.feed import Feed, Snapshot, SourceFeed
from edge_agent.ui.server import UiServer, parse_listen
from edge_agent.ui.webapp import create_app

__all__ = ["Feed", "Snapshot", "SourceFeed", "UiContext", "UiServer", "create_app", "parse_listen"]
