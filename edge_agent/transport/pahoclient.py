"""paho's client, built and fixed up as :class:`edge_agent.transport.mqtt.MqttLink` needs it.

Here: the MQTT v5 client itself (protocol, acknowledgement mode, in-flight window, reconnect back-off), its TLS
options, the last will, the packet properties the link sends, and the one correction to paho's reason-code table.
The link's own state (connection, subscriptions, answers awaited) lives in :mod:`edge_agent.transport.mqtt`.
Together the two are the only modules that import paho.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from types import MappingProxyType

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.errors import TransportError
from edge_agent.transport.model import BrokerAddress, Credentials, TlsFiles, Will

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


def _accept_puback_packet_too_large() -> None:
    """Let paho decode PUBACK 149 (packet too large), which Mosquitto sends for a message over its
    ``message_size_limit``. MQTT 5 lists 149 only for CONNACK and DISCONNECT, so paho 2.2 calls such a PUBACK a
    protocol error, drops the connection and resends the same message after every reconnect, forever. Accepted,
    it is an ordinary refusal: the publish fails once and the outbox sets the item aside."""
    names = dict(ReasonCode.names)
    entry = {name: list(types) for name, types in names.get(149, {}).items()}
    types = entry.setdefault("Packet too large", [])
    if PacketTypes.PUBACK not in types:
        types.append(PacketTypes.PUBACK)
        names[149] = entry
        ReasonCode.names = MappingProxyType(names)  # paho's table, widened once at import


_accept_puback_packet_too_large()


def reason_text(exc: BaseException) -> str:
    """The short reason of an exception, for one-line errors (``Connection refused``, not ``[Errno 111] ...``)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves this constructor untyped


def new_client(
    address: BrokerAddress,
    *,
    client_id: str,
    tls: TlsFiles | None,
    will: Will | None,
    max_inflight: int,
    manual_ack: bool,
    credentials: Credentials | None = None,
) -> paho.Client:
    """An MQTT v5 client for ``address``, callbacks not yet set. TransportError if the TLS files cannot be used."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )
    client.max_inflight_messages_set(max_inflight)
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    _configure_tls(client, address, tls)
    if credentials is not None:
        client.username_pw_set(credentials.username, credentials.password)
    if will is not None:
        client.will_set(
            will.topic, will.payload, qos=1, retain=will.retain, properties=properties(PacketTypes.WILLMESSAGE)
        )
    return client


def _configure_tls(client: paho.Client, address: BrokerAddress, tls: TlsFiles | None) -> None:
    if tls is not None and not address.tls:
        raise TransportError(f"TLS settings given for a plain broker URL {address.url}: use mqtts://")
    if not address.tls:
        return
    try:
        if tls is None:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)  # the system's trusted CAs
        else:
            client.tls_set(
                ca_certs=os.fspath(tls.ca_file),
                certfile=None if tls.cert_file is None else os.fspath(tls.cert_file),
                keyfile=None if tls.key_file is None else os.fspath(tls.key_file),
                cert_reqs=ssl.CERT_REQUIRED,
            )
    except (OSError, ValueError) as exc:
        raise TransportError(f"cannot load TLS files for {address.url}: {reason_text(exc)}") from exc


def connect_properties(
    session_expiry: int, *, receive_maximum: int | None = None, max_packet_size: int | None = None
) -> Properties:
    """CONNECT properties. ``receive_maximum`` caps the messages the broker sends before they are acknowledged,
    ``max_packet_size`` the size of any one it sends (larger ones it drops for this client): together they bound
    what a receiver can be made to hold in memory."""
    props = properties(PacketTypes.CONNECT)
    if session_expiry > 0:
        props.SessionExpiryInterval = session_expiry
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    if max_packet_size is not None:
        props.MaximumPacketSize = max_packet_size
    return props


def publish_properties(
    content_type: str | None, expiry: int | None, user_properties: Iterable[tuple[str, str]]
) -> Properties:
    props = properties(PacketTypes.PUBLISH)
    if content_type is not None:
        props.ContentType = content_type
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    for pair in user_properties:
        props.UserProperty = pair  # paho appends each assignment to the list
    return props
