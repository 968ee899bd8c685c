"""The crime center's subscriber loop: MQTT in, :class:`Ingestor` per message, acknowledged once durable.

The center acknowledges a segment (QoS 1 PUBACK) only after it is durably stored. Acknowledging when the message
callback returns would need every message fsync'd on its own (about 8 fsyncs each). Instead the link
acknowledges manually: the network thread only queues each message; one worker thread takes a batch, ingests
each message with writes that are not fsync'd, makes the whole batch durable with one ``syncfs``, then
acknowledges every message of the batch, in the order received. A crash before the sync acknowledges nothing,
so the broker redelivers, and the ingest copes with what the crash left (see :mod:`edge_agent.center.ingest`).

The batch does not wait for more messages than are queued: the broker holds back further messages until it gets
acknowledgements (its in-flight window), so waiting would only add latency. Under load, messages queue up while
the previous batch is being synced, which is what makes batches.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
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

BATCH_MAX = 64
BATCH_WINDOW_S = 0.02


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
    ingestor = Ingestor(paths, keys, DeviceRegistry(paths.devices), options.topic_prefix, counts, durable=False)
    reassembler = Reassembler(paths.parts)
    stop = stop or threading.Event()

    def handle(msg: InboundMessage) -> None:
        try:
            payload = reassembler.feed(msg)
            if payload is not None and not handle_control(
                ingestor.consent, options.topic_prefix, msg.topic, payload, ingestor.ingest, sync=ingestor.sync
            ):
                ingestor.ingest(msg.topic, payload)
        except EdgeAgentError as exc:
            # One bad message must not stop the worker; it is counted and logged, never stored as evidence.
            log.warning("message on %s not ingested: %s", msg.topic, exc)
            ingestor.counts["errors"] += 1

    def receive(msg: InboundMessage) -> None:
        batches.put(msg)  # on paho's network thread: only queue

    persistent = options.client_id is not None
    link = MqttLink(
        options.broker,
        client_id=options.client_id or f"edge-center-{time.monotonic_ns() % 10**9}",
        tls=options.tls,
        clean_start=not persistent,
        session_expiry=7 * 24 * 3600 if persistent else 0,
        on_message=receive,
        manual_ack=True,
    )
    batches = BatchIngest(handle, ingestor.sync, link.ack)
    for topic_filter in control_filters(options.topic_prefix):
        link.subscribe(topic_filter, qos=1)
    link.subscribe(segments_filter(options.topic_prefix, options.share_group), qos=1)
    worker = threading.Thread(target=batches.run, name="center-ingest", daemon=True)
    worker.start()
    try:
        link.connect()
        link.start()
        log.info("subscribed to %s", segments_filter(options.topic_prefix, options.share_group))
        stop.wait(options.duration)
    finally:
        # Finish, sync and acknowledge what was received before disconnecting; whatever arrives after this is
        # left unacknowledged, for the broker to deliver again.
        batches.close()
        worker.join()
        link.stop()
    sizes = batches.batch_sizes
    if sizes:
        log.info("committed %d batch(es), %.1f message(s) each on average, at most %d",
                 sizes.total(), sum(k * v for k, v in sizes.items()) / sizes.total(), max(sizes))
    return ingestor.counts


class BatchIngest:
    """Group commit: ``handle`` each queued message, ``sync`` once per batch, then ``ack`` the batch.

    ``put`` is called on the network thread and never blocks; :meth:`run` is the worker thread's body.
    """

    def __init__(
        self,
        handle: Callable[[InboundMessage], None],
        sync: Callable[[], None],
        ack: Callable[[InboundMessage], object],
        *,
        batch_max: int = BATCH_MAX,
        window_s: float = BATCH_WINDOW_S,
    ) -> None:
        self._handle = handle
        self._sync = sync
        self._ack = ack
        self._batch_max = batch_max
        self._window_s = window_s
        self._queue: queue.SimpleQueue[InboundMessage | None] = queue.SimpleQueue()
        self.batch_sizes: Counter[int] = Counter()

    def put(self, msg: InboundMessage) -> None:
        self._queue.put(msg)

    def close(self) -> None:
        """Let :meth:`run` return once everything queued so far is handled, synced and acknowledged."""
        self._queue.put(None)

    def run(self) -> None:
        closing = False
        while not closing:
            first = self._queue.get()
            if first is None:
                return
            batch, closing = self._take(first)
            self._commit(batch)

    def _take(self, first: InboundMessage) -> tuple[list[InboundMessage], bool]:
        """Handle ``first`` and whatever is already queued (up to the batch size and time window)."""
        batch: list[InboundMessage] = []
        deadline = time.monotonic() + self._window_s
        msg: InboundMessage | None = first
        while msg is not None:
            if self._handled(msg):
                batch.append(msg)
            if len(batch) >= self._batch_max or time.monotonic() >= deadline:
                return batch, False
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True  # the close marker: commit this batch and stop

    def _handled(self, msg: InboundMessage) -> bool:
        try:
            self._handle(msg)
        except Exception:
            # Not acknowledged: the broker delivers it again after a reconnect (or to another worker).
            log.exception("message on %s failed; left unacknowledged", msg.topic)
            return False
        return True

    def _commit(self, batch: list[InboundMessage]) -> None:
        try:
            self._sync()
        except OSError as exc:
            # Nothing of this batch is known to be durable: acknowledge none of it.
            log.error("cannot make %d message(s) durable, left unacknowledged: %s", len(batch), exc)
            return
        self.batch_sizes[len(batch)] += 1
        for msg in batch:
            self._ack(msg)
