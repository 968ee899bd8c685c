"""Where the page listens. Kept apart from the server so that the command line can name the default without
loading the web stack (flask, werkzeug, jinja2: about 8 MB the daemon does not need)."""

from __future__ import annotations

from edge_agent.errors import ConfigError

DEFAULT_LISTEN = "0.0.0.0:8080"  # every interface, but the page answers only local-network clients


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[v6addr]:PORT`` or ``:PORT`` (all interfaces)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"--listen {text!r}: expected ADDR:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:8080")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - the page filters clients by address itself
    return host, int(port_text)
