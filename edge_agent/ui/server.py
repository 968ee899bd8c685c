"""Serving the page: werkzeug's threaded server, enough for one household on its own network."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import BaseWSGIServer, make_server

from edge_agent.errors import ConfigError
from edge_agent.ui.context import UiContext
from edge_agent.ui.listen import DEFAULT_LISTEN, parse_listen
from edge_agent.ui.webapp import create_app

log = logging.getLogger(__name__)

class UiServer:
    """The page on ``listen``; ``start()`` serves from a thread, ``serve_forever()`` from the caller's."""

    def __init__(self, context: UiContext, listen: str = DEFAULT_LISTEN) -> None:
        self.context = context
        host, port = parse_listen(listen)
        self.app = create_app(context)
        try:
            self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True)
        except OSError as exc:
            raise ConfigError(f"--listen {listen}: cannot listen there: {exc.strerror or exc}") from exc
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        host = self._server.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        return f"http://{shown}:{self.port}/"

    def start(self) -> UiServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="ui-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server.server_close()
        if self.context.feed is not None:
            self.context.feed.close()
