"""What every console handler needs: the center (folder, database and its books), who may reach the console
(allowed Host names), the session key and the login limiter."""

from __future__ import annotations

import contextlib
import secrets
import socket
from dataclasses import dataclass, field

from edge_agent.center.files import DIR_MODE, write_private
from edge_agent.center.services import Center
from edge_agent.core.files import make_dirs
from edge_agent.web.limiter import LoginLimiter

SESSION_KEY = "console/session.key"


@dataclass(slots=True)
class ConsoleContext:
    center: Center
    allowed_hosts: frozenset[str]
    secure_cookies: bool = False  # served over TLS: cookies are sent over TLS only
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    title: str = "Crime center console"

    def session_key(self) -> bytes:
        """The key that signs session cookies, made on first use and shared by every console on this folder.
        Deleting it signs every browser out."""
        path = self.center.paths.root / SESSION_KEY
        if not path.exists():
            make_dirs(path.parent, DIR_MODE)
            with contextlib.suppress(FileExistsError):  # another console made it first
                write_private(path, secrets.token_bytes(32), exclusive=True)
        return path.read_bytes()


def default_hosts(listen_host: str) -> frozenset[str]:
    """The names a browser may use for the console when none are given: loopback names, and when it listens on
    every interface, this machine's own names."""
    names = {"localhost", "127.0.0.1", "::1"}
    if listen_host not in ("127.0.0.1", "localhost", "::1"):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        if listen_host not in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
            names.add(listen_host.lower())
    return frozenset(names)
