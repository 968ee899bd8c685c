"""The crime center's console: a web app served by the center (``edge-center console``).

Staff sign in (roles: operator, investigator, auditor) to watch the live wall, search, play and export evidence,
send requests, read the access log and the transparency report. Every look is written to the access log before
the footage is served. Same habits as the homeowner's page: no CDN (the player is our own script on Media Source
Extensions, fed fragmented MP4 that the center remuxes from its stored segments), CSRF checks, strict cookies, a
Host allow-list, a strict Content-Security-Policy.
"""

from edge_agent.center.console.app import create_app
from edge_agent.center.console.context import ConsoleContext, default_hosts
from edge_agent.center.console.server import DEFAULT_LISTEN, ConsoleServer

__all__ = ["DEFAULT_LISTEN", "ConsoleContext", "ConsoleServer", "create_app", "default_hosts"]
