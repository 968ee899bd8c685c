"""The device's link to the crime center's broker: the MQTT session, the durable outbox's publisher, and the
status, consent, answer and log head messages. Built only when the device is enrolled.

Workers do not get the uplink itself: they get :class:`CenterLink`, the few things they may send and hear.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from edge_agent.config import keys
from edge_agent.config.identity import DeviceIdentity, center_recipient_keys, load_enrollment
from edge_agent.config.models import Enrollment, Profile
from edge_agent.consent.requests import MAX_REQUEST_TTL_S
from edge_agent.consent.state import ConsentRecord, consent_document
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device.resender import Resender
from edge_agent.device.sealer import Sealer
from edge_agent.device.status import Status, offline_payload
from edge_agent.errors import EdgeAgentError, TransportError
from edge_agent.outbox.drain import OutboxPublisher
from edge_agent.outbox.spool import Outbox, OutboxItem
from edge_agent.seal import Recipient
from edge_agent.seal.signed import sign_document
from edge_agent.transport.mqtt import InboundMessage, MqttLink, Will
from edge_agent.transport.topics import Topics

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 3.0
SESSION_EXPIRY_S = int(MAX_REQUEST_TTL_S)


class CenterLink(Protocol):
    """What a worker may do with the center's broker."""

    def listen_requests(self, handler: Callable[[bytes], None]) -> None: ...

    def publish_answer(self, signed: bytes) -> None: ...

    def publish_loghead(self, signed: bytes) -> None: ...

    def notify(self) -> None: ...

    def shared_seq(self) -> int: ...

    def announce_if_reconnected(self, record: ConsentRecord) -> None: ...

    def listen_masking(self, handler: Callable[[bytes], None]) -> None: ...

    def publish_masking_answer(self, signed: bytes) -> bool: ...


class Uplink:
    def __init__(
        self, identity: DeviceIdentity, enrollment: Enrollment, profile: Profile, paths: DevicePaths, audit: AuditLog
    ) -> None:
        self.identity = identity
        self.enrollment = enrollment
        self.paths = paths
        self.topics = Topics(profile.mqtt.topic_prefix, identity.device_id)
        self.outbox = Outbox(paths.outbox, profile.outbox.max_bytes)
        # A persistent session: a request the center sends while the agent is not running waits at the broker and
        # is delivered when it connects (requests expire on the broker with their own lifetime, at most a week).
        self.link = MqttLink(
            enrollment.broker,
            client_id=identity.device_id,
            tls=enrollment.tls,
            will=Will(self.topics.status, offline_payload(identity.device_id), retain=True),
            keepalive=profile.mqtt.keepalive,
            max_inflight=profile.mqtt.max_inflight,
            on_message=self._dispatch,
            clean_start=False,
            session_expiry=SESSION_EXPIRY_S,
        )
        self._sealer: Sealer | None = None
        # Set at every CONNACK: a broker restarted without persistence has forgotten the retained status and
        # consent, so they are published again (from a worker thread, not the network thread).
        self._reconnected = threading.Event()
        self.link.add_connection_listener(lambda up: self._reconnected.set() if up else None)
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        self.audit = audit
        self.publisher = OutboxPublisher(self.outbox, self.link, on_rejected=self._refused)
        self.recipients = [Recipient(key) for key in center_recipient_keys(enrollment)]

    def listen(self, topic: str, handler: Callable[[bytes], None]) -> None:
        """Hand every message on ``topic`` to ``handler`` (on the network thread: it must not block)."""
        self._handlers[topic] = handler
        self.link.subscribe(topic, qos=1)

    def _dispatch(self, message: InboundMessage) -> None:
        handler = self._handlers.get(message.topic)
        if handler is not None:
            handler(message.payload)

    def _refused(self, item: OutboxItem, reason: str) -> None:
        """The broker refused a segment for good: it was not shared after all, and the log says so (the
        transparency report counts it out)."""
        self.audit.note("segment_refused", segment=item.seq, consent_id=item.consent_id, reason=reason[:200])

    def listen_requests(self, handler: Callable[[bytes], None]) -> None:
        self.listen(self.topics.requests, handler)

    def sealer(self) -> Sealer:
        self._sealer = Sealer(
            self.identity,
            recipients=self.recipients,
            outbox=self.outbox,
            topic=self.topics.segments,
            audit=self.audit,
            state_path=self.paths.state,
        )
        return self._sealer

    def resender(self) -> Resender:
        """Answers the center's resend requests from this uplink's outbox and its archive of what was shared."""
        _, center_key = keys.center_public_keys(self.enrollment.center, "enrollment.json: center")
        return Resender(self.outbox, self.audit, device_id=self.identity.device_id,
                        signing_key=self.identity.signing_key, center_key=center_key,
                        next_seq=lambda: self.shared_seq() + 1, publish_answer=self.publish_answer, notify=self.notify)

    def shared_seq(self) -> int:
        """The last sequence number this device shared (-1: none yet)."""
        return -1 if self._sealer is None else self._sealer.next_seq - 1

    def announce_if_reconnected(self, record: ConsentRecord) -> None:
        """After a (re)connection: the retained status and consent again, and with them how far the chain goes."""
        if self._reconnected.is_set():
            self._reconnected.clear()
            self.publish_status(record, "online")
            self.publish_consent(record)

    def start(self, record: ConsentRecord) -> None:
        """Connect in the background: the agent keeps capturing and spooling while the broker is away."""
        try:
            self.link.connect(timeout=5.0)
        except TransportError as exc:
            log.warning("%s; segments stay in the outbox and are sent when the broker is back", exc)
        self.link.start()
        self.publisher.start()
        self.publish_status(record, "online")
        self.publish_consent(record)

    def notify(self) -> None:
        self.publisher.notify()

    def publish_status(self, record: ConsentRecord, state: str, detail: str = "") -> None:
        status = Status(self.identity.device_id, state, record, record.is_live_at(time.time()), detail,
                        self.shared_seq())
        self.link.publish(self.topics.status, status.to_json(), qos=1, retain=True, content_type="application/json")

    def publish_consent(self, record: ConsentRecord) -> None:
        doc = consent_document(record, self.identity.device_id)
        self.link.publish(self.topics.consent, sign_document(doc, self.identity.signing_key), qos=1, retain=True,
                          content_type="application/json")

    def publish_answer(self, signed: bytes) -> None:
        self.link.publish(self.topics.answers, signed, qos=1, content_type="application/json")

    def publish_loghead(self, signed: bytes) -> None:
        self.link.publish(self.topics.loghead, signed, qos=1, retain=True, content_type="application/json")

    def listen_masking(self, handler: Callable[[bytes], None]) -> None:
        self.listen(self.topics.masking, handler)

    def publish_masking_answer(self, signed: bytes) -> bool:
        """A signed masking answer (with its still); True once the broker has it. False at once while the broker
        is away: the worker sends it again later, rather than piling copies up in paho's memory."""
        if not self.link.connected:
            return False
        result = self.link.publish(self.topics.masking_answer, signed, qos=1, content_type="application/json")
        return result.wait(PUBLISH_TIMEOUT_S * 3)

    def stop(self, drain_timeout: float) -> int:
        """Give the publisher up to ``drain_timeout`` seconds to empty the outbox; returns items delivered."""
        deadline = time.monotonic() + drain_timeout
        while self.outbox.pending() and self.link.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        left = len(self.outbox.pending())
        if left:
            log.info("%d segment(s) stay in the outbox for the next run", left)
        self.publisher.stop()
        self.link.publish(self.topics.status, offline_payload(self.identity.device_id, self.shared_seq()), qos=1,
                          retain=True)
        self.link.stop()
        return self.publisher.sent_count


def describe_outbox(paths: DevicePaths) -> str:
    if not paths.outbox.exists():
        return "outbox: empty"
    pending = Outbox(paths.outbox, 1 << 62).pending()
    total = sum(item.size for item in pending)
    return f"outbox: {len(pending)} sealed segment(s) waiting, {total / 1e6:.1f} MB" + (
        f" (seq {pending[0].seq}..{pending[-1].seq})" if pending else ""
    )


def publish_consent_once(paths: DevicePaths, profile: Profile, device_id: str, signed: bytes) -> bool:
    """Publish a signed consent record, retained, over a short connection of its own (the command line and the
    page, while the agent may or may not run). False when not enrolled or the broker is away."""
    enrollment = load_enrollment(paths)
    if enrollment is None:
        return False
    topics = Topics(profile.mqtt.topic_prefix, device_id)
    link = MqttLink(enrollment.broker, client_id=f"{device_id}-consent-{time.monotonic_ns() % 10**6}",
                    tls=enrollment.tls)
    try:
        link.connect(timeout=PUBLISH_TIMEOUT_S)
        link.start()
        result = link.publish(topics.consent, signed, qos=1, retain=True, content_type="application/json")
        return result.wait(PUBLISH_TIMEOUT_S)
    except EdgeAgentError as exc:
        log.warning("consent saved; the agent publishes it when it reaches the broker (%s)", exc)
        return False
    finally:
        link.stop()
