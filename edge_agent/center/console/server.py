"""Serving the console: werkzeug's threaded server, over TLS when given a certificate and key."""

from __future__ import annotations

import logging
import ssl

from edge_agent.center.console.app import create_app
from edge_agent.center.console.context import ConsoleContext
from edge_agent.errors import CenterError
from edge_agent.web.serving import WebServer

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8090"


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` or ``[v6addr]:PORT``."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CenterError(f"--listen {text!r}: expected ADDR:PORT, e.g. 127.0.0.1:8090")
    return host.strip("[]"), int(port)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise CenterError(f"--tls-cert/--tls-key: cannot load them: {exc}") from exc
    return context


class ConsoleServer(WebServer):
    """The console on ``listen``, over TLS when given ``(certificate, key)``."""

    def __init__(self, context: ConsoleContext, listen: str = DEFAULT_LISTEN,
                 tls: tuple[str, str] | None = None) -> None:
        host, port = parse_listen(listen)
        try:
            super().__init__(create_app(context), host, port, ssl_context=tls_context(*tls) if tls else None,
                             name="console-http")
        except OSError as exc:
            raise CenterError(f"--listen {listen}: cannot listen there: {exc.strerror or exc}") from exc
