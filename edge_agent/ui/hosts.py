"""Which ``Host`` header the page answers: the device's own names and addresses, nothing else.

A DNS-rebinding attack points a name the attacker controls (``evil.example``) at the device's address after the
homeowner's browser loaded the attacker's page from it; the browser then treats the device as part of the attacker's
site and sends it requests with ``Host: evil.example``. The session cookie is not sent (another site), but the
pairing page is open to anyone on the network, so such a page could burn the homeowner's one-time code or try
passwords. Refusing every ``Host`` that is not one of the device's names or addresses stops it before any handler.

Names: ``localhost``, the machine's host name, that name under ``.local`` (mDNS, what a phone on the same Wi-Fi
uses), its fully qualified name, and any the profile adds (``[ui] hosts``). Addresses: any address this machine
holds, checked by binding a socket to it (no interface list to keep up to date when DHCP hands out a new one).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable

ADDRESS_TTL_S = 60.0
MAX_CACHED = 256


def host_name(header: str) -> str:
    """The host part of a ``Host`` header, lower case, without port, brackets or a trailing dot."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def own_names(extra: Iterable[str] = ()) -> frozenset[str]:
    names = {"localhost", "localhost.localdomain"}
    short = socket.gethostname().lower().rstrip(".")
    if short:
        names |= {short, f"{short}.local"}
    fqdn = socket.getfqdn().lower().rstrip(".")
    if fqdn:
        names.add(fqdn)
    names |= {host_name(name) for name in extra if name.strip()}
    return frozenset(names)


def holds_address(address: str) -> bool:
    """True when this machine holds ``address`` (binding to an address it does not hold fails)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    if ip.is_unspecified or ip.is_multicast:
        return False
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((str(ip), 0))
    except OSError:
        return False
    return True


class HostCheck:
    """Answers "is this ``Host`` header one of ours?"; addresses are re-checked every ``ADDRESS_TTL_S``."""

    def __init__(
        self, extra_names: Iterable[str] = (), *, clock: Callable[[], float] = time.monotonic,
        holds: Callable[[str], bool] = holds_address,
    ) -> None:
        self.names = own_names(extra_names)
        self._clock = clock
        self._holds = holds
        self._lock = threading.Lock()
        self._addresses: dict[str, tuple[bool, float]] = {}

    def allowed(self, header: str | None) -> bool:
        host = host_name(header or "")
        if not host:
            return False
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host in self.names
        return self._address_ok(host)

    def _address_ok(self, address: str) -> bool:
        now = self._clock()
        with self._lock:
            cached = self._addresses.get(address)
            if cached is not None and now - cached[1] < ADDRESS_TTL_S:
                return cached[0]
        ok = self._holds(address)
        with self._lock:
            if len(self._addresses) >= MAX_CACHED:
                self._addresses.clear()  # a flood of made-up addresses cannot grow this without bound
            self._addresses[address] = (ok, now)
        return ok
