"""The crime center's subscriber loop: MQTT in, :class:`Ingestor` per message."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

from edge_agent.center.consent_check import control_filters, handle_control
from edge_agent.center.ingest import Ingestor
from edge_agent.center.keys import CenterPaths, DeviceRegistry, load_keys
from edge_agent.config.models import TlsSettings
from edge_agent.errors import EdgeAgentError
from edge_agent.transport.mqtt import InboundMessage, MqttLink
from edge_agent.transport.parts import Reassembler
from edge_agent.transport.topics import segments_filter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SubscribeOptions:
    broker: str
    topic_prefix: str = "rtcc/v1"
    share_group: str | None = None
    duration: float | None = None
    client_id: str | None = None
    tls: TlsSettings | None = None


def run_subscriber(
    paths: CenterPaths,
    options: SubscribeOptions,
    stop: threading.Event | None = None,
    counts: Counter[str] | None = None,
) -> Counter[str]:
    """Subscribe until ``duration`` elapses or ``stop`` is set; returns the ingest counts (updated live in
    ``counts`` when given)."""
    keys = load_keys(paths)
    ingestor = Ingestor(paths, keys, DeviceRegistry(paths.devices), options.topic_prefix, counts)
    reassembler = Reassembler(paths.parts)
    stop = stop or threading.Event()

    def on_message(msg: InboundMessage) -> None:
        try:
            payload = reassembler.feed(msg)
            if payload is not None and not handle_control(
                ingestor.consent, options.topic_prefix, msg.topic, payload, ingestor.ingest
            ):
                ingestor.ingest(msg.topic, payload)
        except EdgeAgentError as exc:
            # One bad message must not stop the worker; it is counted and logged, never stored as evidence.
            log.warning("message on %s not ingested: %s", msg.topic, exc)
            ingestor.counts["errors"] += 1

    persistent = options.client_id is not None
    link = MqttLink(
        options.broker,
        client_id=options.client_id or f"edge-center-{time.monotonic_ns() % 10**9}",
        tls=options.tls,
        clean_start=not persistent,
        session_expiry=7 * 24 * 3600 if persistent else 0,
        on_message=on_message,
    )
    for topic_filter in control_filters(options.topic_prefix):
        link.subscribe(topic_filter, qos=1)
    link.subscribe(segments_filter(options.topic_prefix, options.share_group), qos=1)
    link.connect()
    link.start()
    log.info("subscribed to %s", segments_filter(options.topic_prefix, options.share_group))
    try:
        stop.wait(options.duration)
    finally:
        link.stop()
    return ingestor.counts
