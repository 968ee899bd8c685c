"""A minimal sd_notify client: READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 to ``$NOTIFY_SOCKET``.

Standard library only; a no-op when the agent does not run under systemd. Failures are logged, not hidden.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        # A leading "@" names a Linux abstract socket.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval = int(usec) / 2e6 if usec.isascii() and usec.isdigit() and int(usec) > 0 else None
        # systemd names the process it watches; a child that inherited the environment must not ping for it.
        pid = env.get("WATCHDOG_PID", "")
        if pid and pid != str(os.getpid()):
            self.watchdog_interval = None
        self._last_ping = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, message: str) -> bool:
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode("utf-8"))
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
            return False
        return True

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self, now: float | None = None) -> None:
        """Ping the watchdog, at most every half interval. Call only while frames are flowing."""
        if self.watchdog_interval is None:
            return
        now = time.monotonic() if now is None else now
        if now - self._last_ping >= self.watchdog_interval:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")
