"""Serving a face: werkzeug's threaded server on one address, from a thread of its own or the caller's."""

from __future__ import annotations

import errno
import ssl
import threading
from typing import Self

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server


class WebServer:
    """``app`` on ``host:port`` (port 0: a free one). OSError when it cannot listen there (the caller says why in
    its own words)."""

    def __init__(self, app: Flask, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                 name: str = "http") -> None:
        self.app = app
        self.tls = ssl_context is not None
        self._name = name
        try:
            self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
        except SystemExit as exc:
            # werkzeug prints its own advice and exits when the port is taken: the caller says it in one line.
            raise OSError(errno.EADDRINUSE, "the port is in use") from exc
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """Where a browser on this machine reaches it."""
        host = self._server.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - shown, not bound
        shown = f"[{shown}]" if ":" in shown else shown
        return f"{'https' if self.tls else 'http'}://{shown}:{self.port}/"

    def start(self) -> Self:
        self._serving = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self._name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._server.serve_forever()

    def stop(self) -> None:
        if self._serving:  # shutdown() waits for a serving loop: one that never ran would wait for ever
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server.server_close()
