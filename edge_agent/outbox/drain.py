"""Draining the outbox to the broker: oldest first, QoS 1, an item removed only after the broker's PUBACK.

Up to ``window`` items are in flight at once (paho keeps them and resends them after a reconnect, so an item is
never published twice by us). While the link is down the thread sleeps until the link reports a CONNACK, a put
calls :meth:`OutboxPublisher.notify`, or a slow safety timer fires (which also catches items that another
process put into the folder).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from edge_agent.errors import OutboxError, TransportError
from edge_agent.outbox.spool import Outbox, OutboxItem
from edge_agent.transport.mqtt import MqttLink, PublishResult

log = logging.getLogger(__name__)

_RECHECK_S = 5.0


class OutboxPublisher:
    """A thread that publishes the outbox's items in sequence order."""

    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        *,
        on_sent: Callable[[OutboxItem], None] | None = None,
        on_rejected: Callable[[OutboxItem, str], None] | None = None,
        window: int = 4,
        content_type: str | None = "application/octet-stream",
    ) -> None:
        if window < 1:
            raise OutboxError(f"publish window must be at least 1, got {window}")
        self._outbox = outbox
        self._link = link
        self._on_sent = on_sent
        self._on_rejected = on_rejected
        self.last_rejection = ""
        self._window = window
        self._content_type = content_type
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._in_flight: deque[tuple[OutboxItem, PublishResult]] = deque()
        self._thread: threading.Thread | None = None
        self._sent = 0
        self._rejected = 0
        link.add_connection_listener(lambda _up: self._wake.set())

    @property
    def sent_count(self) -> int:
        return self._sent

    @property
    def rejected_count(self) -> int:
        return self._rejected

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Wake the thread: an item was put."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread. Items still in flight stay in the outbox and are sent again on the next run."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("outbox publisher did not stop within %.1f s", timeout)
        self._in_flight.clear()

    def _run(self) -> None:
        log.info("outbox publisher started (%d item(s) waiting)", len(self._outbox.pending()))
        while not self._stopping.is_set():
            # Clear before looking, so that a wake-up during this round is not lost.
            self._wake.clear()
            try:
                self._settle()
                if self._link.connected:
                    self._fill()
            except OutboxError as exc:
                # The disk is failing (not one bad item: those are quarantined); try again later.
                log.error("outbox publisher: %s", exc)
            self._wake.wait(_RECHECK_S)
        log.info("outbox publisher stopped (%d sent)", self._sent)

    def _settle(self) -> None:
        """Handle finished items at the head of the queue, in order."""
        while self._in_flight and self._in_flight[0][1].done:
            item, result = self._in_flight.popleft()
            if result.refused:
                self._reject(item, self._refusal(result))
            elif result.abandoned:
                log.info("segment %d stays in the outbox: the link stopped", item.seq)
            else:
                self._outbox.ack(item)
                self._sent += 1
                log.debug("segment %d delivered", item.seq)
                self._report_sent(item)

    def _reject(self, item: OutboxItem, reason: str) -> None:
        self._outbox.reject(item, reason)
        self._rejected += 1
        self.last_rejection = reason
        if self._on_rejected is None:
            return
        try:
            self._on_rejected(item, reason)
        except Exception:
            log.exception("on_rejected callback failed for segment %d", item.seq)

    @staticmethod
    def _refusal(result: PublishResult) -> str:
        """The broker's own words and reason code, e.g. "Not authorized (135)"."""
        refusal = result.refusal
        return "refused" if refusal is None else f"{refusal[1]} ({refusal[0]})"

    def _report_sent(self, item: OutboxItem) -> None:
        if self._on_sent is None:
            return
        try:
            self._on_sent(item)
        except Exception:
            # The item is already delivered and removed; a failing observer must not stop the drain.
            log.exception("on_sent callback failed for segment %d", item.seq)

    def _fill(self) -> None:
        busy = {item.seq for item, _ in self._in_flight}
        for item in self._outbox.pending():
            if len(self._in_flight) >= self._window or self._stopping.is_set():
                return
            if item.seq in busy:
                continue
            try:
                blob = self._outbox.read(item)
            except OutboxError as exc:
                log.error("skipping segment %d: %s", item.seq, exc)
                continue
            try:
                result = self._link.publish(item.topic, blob, qos=1, content_type=self._content_type)
            except TransportError as exc:
                # Nothing will make this item publishable (bad topic, too large for any part size).
                self._reject(item, str(exc))
                continue
            result.add_done_callback(self._wake.set)
            self._in_flight.append((item, result))
