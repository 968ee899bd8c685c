"""Plain values of the transport layer. Kept free of paho so that the center's reassembly and the tests can use
them without the MQTT client."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from edge_agent.errors import TransportError

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class Will:
    """The last will: published by the broker when the link drops without a clean disconnect."""

    topic: str
    payload: bytes
    retain: bool = True


class TlsFiles(Protocol):
    """Anything naming the TLS files: :class:`TlsSettings`, or the enrollment's validated ``tls`` section."""

    @property
    def ca_file(self) -> str | os.PathLike[str]: ...
    @property
    def cert_file(self) -> str | os.PathLike[str] | None: ...
    @property
    def key_file(self) -> str | os.PathLike[str] | None: ...


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """CA bundle to trust, and optionally a client certificate and key (mutual TLS)."""

    ca_file: str | Path
    cert_file: str | Path | None = None
    key_file: str | Path | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password for a broker that asks for them (a homeowner's Home Assistant broker does)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://host[:port]`` (plain, default 1883) or ``mqtts://host[:port]`` (TLS, default 8883)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TransportError(f"invalid broker URL {url!r}: {exc}") from exc
    if parts.scheme not in DEFAULT_PORTS:
        raise TransportError(f"invalid broker URL {url!r}: expected mqtt://host:port or mqtts://host:port")
    if not parts.hostname:
        raise TransportError(f"invalid broker URL {url!r}: no host")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise TransportError(f"invalid broker URL {url!r}: only scheme, host and port are allowed")
    return BrokerAddress(
        host=parts.hostname,
        port=port if port is not None else DEFAULT_PORTS[parts.scheme],
        tls=parts.scheme == "mqtts",
    )


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message as received; ``user_properties`` keep their order and duplicates."""

    topic: str
    payload: bytes
    retain: bool
    user_properties: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None
    qos: int = 1
    mid: int = 0  # the packet id, for :meth:`MqttLink.ack` when the link acknowledges manually
    # Which delivery this is, for :meth:`MqttLink.ack`: a copy without the payload (``without_payload``) can be
    # acknowledged, so a receiver need not keep the bytes until it acknowledges.
    ack_token: object = field(default=None, compare=False, repr=False)

    def without_payload(self) -> InboundMessage:
        return replace(self, payload=b"")

    def property(self, key: str) -> str | None:
        """The first user property named ``key``."""
        for name, value in self.user_properties:
            if name == key:
                return value
        return None


def inbound_message(message: Any, ack_token: object = None) -> InboundMessage | None:
    """Convert a received paho message (None, and logged, if its topic is not UTF-8)."""
    try:
        topic = message.topic
    except UnicodeDecodeError:
        log.warning("dropped a message whose topic is not UTF-8")
        return None
    props = getattr(message, "properties", None)
    return InboundMessage(
        topic=topic,
        payload=bytes(message.payload),
        retain=bool(message.retain),
        user_properties=tuple((str(k), str(v)) for k, v in getattr(props, "UserProperty", None) or ()),
        content_type=getattr(props, "ContentType", None),
        qos=int(message.qos),
        mid=int(message.mid),
        ack_token=ack_token,
    )
