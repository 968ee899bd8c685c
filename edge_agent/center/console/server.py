"""Serving the console: werkzeug's threaded server, over TLS when given a certificate and key."""

from __future__ import annotations

import logging
import ssl
import threading

from werkzeug.serving import BaseWSGIServer, make_server

from edge_agent.center.console.app import create_app
from edge_agent.center.console.context import ConsoleContext
from edge_agent.errors import CenterError

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8090"


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` or ``[v6addr]:PORT``."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CenterError(f"--listen {text!r}: expected ADDR:PORT, e.g. 127.0.0.1:8090")
    return host.strip("[]"), int(port)


class ConsoleServer:
    def __init__(self, context: ConsoleContext, listen: str = DEFAULT_LISTEN,
                 tls: tuple[str, str] | None = None) -> None:
        host, port = parse_listen(listen)
        self.app = create_app(context)
        self.tls = tls is not None
        ssl_context = None
        if tls is not None:
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                ssl_context.load_cert_chain(*tls)
            except (OSError, ssl.SSLError) as exc:
                raise CenterError(f"--tls-cert/--tls-key: cannot load them: {exc}") from exc
        try:
            self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True, ssl_context=ssl_context)
        except OSError as exc:
            raise CenterError(f"--listen {listen}: cannot listen there: {exc.strerror or exc}") from exc
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        host = self._server.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - shown, not bound
        shown = f"[{shown}]" if ":" in shown else shown
        return f"{'https' if self.tls else 'http'}://{shown}:{self.port}/"

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="console-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server.server_close()
