"""Serving the page: werkzeug's threaded server, enough for one household on its own network."""

from __future__ import annotations

import logging

from edge_agent.errors import ConfigError
from edge_agent.ui.context import UiContext
from edge_agent.ui.listen import DEFAULT_LISTEN, parse_listen
from edge_agent.ui.webapp import create_app
from edge_agent.web.serving import WebServer

log = logging.getLogger(__name__)


class UiServer(WebServer):
    """The page on ``listen``; ``start()`` serves from a thread, ``serve_forever()`` from the caller's."""

    def __init__(self, context: UiContext, listen: str = DEFAULT_LISTEN) -> None:
        self.context = context
        host, port = parse_listen(listen)
        try:
            super().__init__(create_app(context), host, port, name="ui-http")
        except OSError as exc:
            raise ConfigError(f"--listen {listen}: cannot listen there: {exc.strerror or exc}") from exc

    def stop(self) -> None:
        super().stop()
        if self.context.feed is not None:
            self.context.feed.close()
