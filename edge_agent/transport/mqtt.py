"""The MQTT v5 link: one connection, its subscriptions and the broker's answers.

paho keeps unacknowledged messages in memory only, and resends an oversize publish forever (the broker drops the
connection each time). So this link checks every payload against the broker's CONNACK maximum packet size and
splits what does not fit (see :mod:`edge_agent.transport.parts`), and reports each PUBACK's reason code through a
:class:`PublishResult`, so that the durable outbox removes an item only once the broker has taken it.

How paho's client is built (TLS, will, back-off, packet properties, the PUBACK 149 fix) is in
:mod:`edge_agent.transport.pahoclient`; with it, this is the only module that imports paho.

Threads: paho's network thread runs every callback. Callbacks registered here (``on_message``, connection
listeners, publish-done callbacks) run on that thread and must not block or call back into the link.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.errors import TransportError
from edge_agent.transport.model import (
    BrokerAddress,
    Credentials,
    InboundMessage,
    TlsFiles,
    TlsSettings,
    Will,
    inbound_message,
    parse_broker_url,
)
from edge_agent.transport.pahoclient import connect_properties, new_client, publish_properties, reason_text
from edge_agent.transport.parts import plan_parts
from edge_agent.transport.result import LINK_STOPPED, Ack, AnswerBook, PublishResult
from edge_agent.transport.topics import check_filter

__all__ = [
    "BrokerAddress",
    "Credentials",
    "InboundMessage",
    "MqttLink",
    "PublishResult",
    "TlsFiles",
    "TlsSettings",
    "Will",
    "parse_broker_url",
]

log = logging.getLogger(__name__)


class MqttLink:
    """One MQTT v5 connection with reconnects, resubscription, PUBACK tracking and payload splitting."""

    def __init__(
        self,
        broker: str,
        *,
        client_id: str,
        tls: TlsFiles | None = None,
        will: Will | None = None,
        clean_start: bool = True,
        session_expiry: int = 0,
        keepalive: int = 30,
        max_inflight: int = 10,
        on_message: Callable[[InboundMessage], None] | None = None,
        manual_ack: bool = False,
        receive_maximum: int | None = None,
        max_packet_size: int | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        """With ``manual_ack``, a received QoS 1/2 message is acknowledged only by :meth:`ack`, not when
        ``on_message`` returns: the receiver acknowledges once it has made the message durable.
        ``receive_maximum`` and ``max_packet_size`` go to the broker in CONNECT (see ``connect_properties``)."""
        self.address = parse_broker_url(broker)
        self.url = self.address.url
        self._clean_start = clean_start
        self._session_expiry = session_expiry
        self._receive_maximum = receive_maximum
        self._max_packet = max_packet_size
        self._keepalive = keepalive
        self._on_message = on_message
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._connack = threading.Event()
        self._connack_error: str | None = None
        self._subscriptions: dict[str, int] = {}
        self._acks: AnswerBook[tuple[int, str]] = AnswerBook()
        self._subacks: AnswerBook[tuple[int, str]] = AnswerBook()
        self._resubscribing = 0
        self._network_thread: int | None = None
        self._listeners: list[Callable[[bool], None]] = []
        self._max_packet_size: int | None = None
        self._loop_running = False
        self._stopping = False
        # Messages received on the current connection and not acknowledged yet, by packet id (manual_ack only):
        # the token of each delivery, so that a late ack of a message from an earlier connection can never
        # acknowledge a different message that reuses its packet id (and no payload is kept here).
        self._unacked: dict[int, object] = {}
        self._manual_ack = manual_ack
        self._client = new_client(
            self.address, client_id=client_id, tls=tls, will=will, max_inflight=max_inflight, manual_ack=manual_ack,
            credentials=credentials,
        )
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_publish = self._handle_publish
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_message = self._handle_message
        self._client.on_connect_fail = self._handle_connect_fail

    # -- connection ------------------------------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> None:
        """Connect and wait for the broker's CONNACK; TransportError naming the URL if that fails.

        The network loop keeps running afterwards (reconnecting as needed); :meth:`start` is then a no-op.
        If the loop already runs (after :meth:`start`), this only waits for the connection.
        """
        if self._loop_running:
            if not self._connected.wait(timeout):
                raise TransportError(f"cannot reach broker {self.url}: not connected within {timeout:g}s")
            return
        self._stopping = False
        self._connack.clear()
        self._connack_error = None
        self._client.connect_timeout = timeout
        try:
            self._client.connect(
                self.address.host,
                self.address.port,
                keepalive=self._keepalive,
                clean_start=self._clean_start,
                properties=self._connect_properties(),
            )
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot reach broker {self.url}: {reason_text(exc)}") from exc
        self._start_loop()
        if not self._connack.wait(timeout):
            self._stop_loop()
            raise TransportError(f"cannot reach broker {self.url}: not connected within {timeout:g}s")
        if self._connack_error is not None:
            self._stop_loop()
            raise TransportError(f"cannot reach broker {self.url}: {self._connack_error}")

    def start(self) -> None:
        """Run the network loop in the background, connecting and reconnecting with back-off (1 s to 30 s)."""
        if self._loop_running:
            return
        self._stopping = False
        self._client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=self._keepalive,
            clean_start=self._clean_start,
            properties=self._connect_properties(),
        )
        self._start_loop()

    def _connect_properties(self) -> Properties:
        return connect_properties(
            self._session_expiry, receive_maximum=self._receive_maximum, max_packet_size=self._max_packet
        )

    def _start_loop(self) -> None:
        with self._lock:
            if self._loop_running:
                return
            self._loop_running = True
        self._client.loop_start()

    def _stop_loop(self) -> None:
        with self._lock:
            running, self._loop_running = self._loop_running, False
        if running:
            self._client.loop_stop()

    def stop(self, flush_timeout: float = 2.0) -> None:
        """Disconnect cleanly (the broker does not publish the will) and end the network loop.

        While connected, first give messages still in flight up to ``flush_timeout`` seconds to be acknowledged.
        """
        self._stopping = True
        if self._connected.is_set():
            deadline = time.monotonic() + flush_timeout
            pause = threading.Event()
            while self._acks.count() and time.monotonic() < deadline:
                pause.wait(0.02)
            self._client.disconnect()
        self._stop_loop()
        self._connected.clear()
        for deliver in self._acks.take_all():
            deliver((LINK_STOPPED, "link stopped before the broker answered"))
        for deliver in self._subacks.take_all():
            deliver((LINK_STOPPED, "link stopped before the broker answered"))

    @property
    def connected(self) -> bool:
        """Connected, and every subscription confirmed by the broker."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    @property
    def max_packet_size(self) -> int | None:
        """The broker's maximum packet size from the last CONNACK (None: it set no limit, or never connected)."""
        return self._max_packet_size

    def add_connection_listener(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(True)`` once connected and subscribed (after each CONNACK and the SUBACKs of the
        subscriptions), and ``listener(False)`` after each disconnect."""
        with self._lock:
            self._listeners.append(listener)

    def _notify_listeners(self, up: bool) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(up)

    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Properties | None
    ) -> None:
        self._network_thread = threading.get_ident()
        if reason.is_failure:
            log.warning("broker %s refused the connection: %s", self.url, reason)
            self._connack_error = f"refused: {reason}"
            self._connack.set()
            return
        self._max_packet_size = getattr(properties, "MaximumPacketSize", None)
        with self._lock:
            # Unacknowledged messages of the old connection are redelivered on this one (persistent session)
            # or dropped with the session; their old packet ids must not be acknowledged here.
            self._unacked.clear()
            subscriptions = list(self._subscriptions.items())
            self._resubscribing = len(subscriptions)
        log.info("connected to %s (max packet size %s)", self.url, self._max_packet_size)
        if not subscriptions:
            self._become_ready()
            return
        # Ready only once the broker confirmed every subscription: a message published right after the
        # listeners hear "connected" must not race ahead of our SUBSCRIBE.
        for topic_filter, qos in subscriptions:
            rc, mid = client.subscribe(topic_filter, qos=qos)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
                # The connection is already gone again; the next CONNACK starts over.
                log.debug("resubscribing to %s failed: %s", topic_filter, paho.error_string(rc))
                return
            self._subacks.expect(mid, functools.partial(self._resubscribed, topic_filter))

    def _resubscribed(self, topic_filter: str, answer: tuple[int, str]) -> None:
        if answer[0] >= 128:
            log.warning("broker refused the subscription to %s: %s", topic_filter, answer[1])
        with self._lock:
            self._resubscribing -= 1
            ready = self._resubscribing == 0
        if ready:
            self._become_ready()

    def _become_ready(self) -> None:
        self._connected.set()
        self._connack.set()
        self._notify_listeners(True)

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Properties | None
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if not self._connack.is_set():
            self._connack_error = f"connection closed before CONNACK ({reason})"
            self._connack.set()
        if was_connected:
            level = logging.INFO if self._stopping else logging.WARNING
            log.log(level, "disconnected from %s: %s", self.url, reason)
            self._notify_listeners(False)

    def _handle_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        log.debug("cannot reach broker %s; retrying", self.url)

    # -- publishing ------------------------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        content_type: str | None = None,
        expiry: int | None = None,
        user_properties: Sequence[tuple[str, str]] = (),
    ) -> PublishResult:
        """Queue ``payload`` for ``topic``; split into parts if it exceeds the broker's maximum packet size.

        While disconnected the message waits in memory and goes out after the next CONNACK. Before the first
        CONNACK the broker's limit is unknown, so large payloads should wait for :attr:`connected` (the outbox
        publisher does).
        """
        base = tuple(user_properties)
        pieces = plan_parts(
            topic, payload, self._max_packet_size, base, content_type=content_type, expiry=expiry, retain=retain
        )
        acks = [
            self._publish_one(topic, data, qos, retain, publish_properties(content_type, expiry, base + extra))
            for data, extra in pieces
        ]
        return PublishResult(topic, acks)

    def _publish_one(self, topic: str, data: bytes, qos: int, retain: bool, props: Properties) -> Ack:
        try:
            info = self._client.publish(topic, data, qos=qos, retain=retain, properties=props)
        except (ValueError, TypeError, OSError) as exc:
            raise TransportError(f"cannot publish to {topic}: {reason_text(exc)}") from exc
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise TransportError(f"cannot publish to {topic}: {paho.error_string(info.rc)}")
        ack = Ack()
        self._acks.expect(info.mid, ack.deliver)
        return ack

    def _handle_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties | None
    ) -> None:
        # Runs with paho's outgoing-message lock held: only hand the answer over, never call paho from here.
        if reason.is_failure:
            log.warning("broker refused message %d: %s", mid, reason)
        self._acks.answer(mid, (int(reason.value), str(reason)))

    # -- subscribing -----------------------------------------------------------------------------------------

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 10.0) -> None:
        """Subscribe, and again after every reconnect. While connected, wait up to ``timeout`` for the SUBACK
        (except on the network thread, i.e. from a callback) and raise TransportError if the broker refuses."""
        check_filter(topic_filter)
        if qos not in (0, 1, 2):
            raise TransportError(f"invalid QoS {qos} for {topic_filter!r}")
        with self._lock:
            self._subscriptions[topic_filter] = qos
        if not self._connected.is_set():
            return  # sent with the others after the next CONNACK
        try:
            result, mid = self._client.subscribe(topic_filter, qos=qos)
        except ValueError as exc:
            raise TransportError(f"cannot subscribe to {topic_filter!r}: {exc}") from exc
        if result == MQTTErrorCode.MQTT_ERR_NO_CONN or mid is None:
            return  # the link just dropped; the subscription is sent again after the next CONNACK
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise TransportError(f"cannot subscribe to {topic_filter!r}: {paho.error_string(result)}")
        if threading.get_ident() == self._network_thread:
            return
        suback = Ack()
        self._subacks.expect(mid, suback.deliver)
        if not suback.wait(timeout):
            if self._connected.is_set():
                raise TransportError(f"no SUBACK for {topic_filter!r} from {self.url} within {timeout:g}s")
            return  # the link dropped; the subscription is sent again on reconnect
        if suback.failed:
            raise TransportError(f"broker {self.url} refused the subscription to {topic_filter!r}: {suback.reason}")

    def _handle_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Any
    ) -> None:
        # One reason per filter: the granted QoS (0-2) or a refusal (>= 128); we send one filter at a time.
        code = max((int(r.value) for r in reasons), default=128)
        self._subacks.answer(mid, (code, ", ".join(str(r) for r in reasons)))

    def ack(self, message: InboundMessage) -> bool:
        """Acknowledge ``message`` (PUBACK for QoS 1) when the link acknowledges manually. Safe from any thread.

        False when there is nothing to acknowledge: QoS 0, automatic acknowledgement, already acknowledged, or
        received on an earlier connection (the broker redelivers it, or dropped it with a clean session).
        """
        if not self._manual_ack or message.qos == 0:
            return False
        with self._lock:
            if message.ack_token is None or self._unacked.get(message.mid) is not message.ack_token:
                return False
            del self._unacked[message.mid]
        rc = self._client.ack(message.mid, message.qos)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.debug("acknowledging message %d failed: %s", message.mid, paho.error_string(rc))
            return False
        return True

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        token = object()
        inbound = inbound_message(message, token)
        if inbound is not None and self._manual_ack and inbound.qos > 0:
            with self._lock:
                self._unacked[inbound.mid] = token
        elif inbound is None and self._manual_ack and message.qos > 0:
            client.ack(message.mid, message.qos)  # dropped (topic not UTF-8): nothing to make durable
        if inbound is None or self._on_message is None:
            return
        try:
            self._on_message(inbound)
        except Exception:
            # A failing handler must not kill the network thread (and with it every later message).
            log.exception("message handler failed for a message on %s", inbound.topic)
