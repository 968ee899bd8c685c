"""Group commit for the center's receiver: handle a batch of messages, make it durable once, then acknowledge it.

Acknowledging when the message callback returns would need every message fsync'd on its own (about 8 fsyncs
each). Instead the link acknowledges manually: the network thread only queues each message; one worker thread
takes a batch, handles each message with writes that are not fsync'd, makes the whole batch durable with one
``syncfs``, then acknowledges every message of the batch, in the order received. A crash before the sync
acknowledges nothing, so the broker redelivers, and the ingest copes with what the crash left.

The batch does not wait for more messages than are queued: the broker holds back further messages until it gets
acknowledgements (its in-flight window), so waiting would only add latency. Under load, messages queue up while
the previous batch is being synced, which is what makes batches.

Memory: messages received and not yet handled are held up to ``max_bytes``; past that, :meth:`BatchIngest.put`
waits (it runs on the network thread, so the broker, getting no acknowledgements, sends nothing more). A handled
message waits for its acknowledgement without its payload. A flood of large message parts costs at most
``max_bytes`` plus the message being received.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable

from edge_agent.transport.model import InboundMessage

log = logging.getLogger(__name__)

BATCH_MAX = 64
BATCH_WINDOW_S = 0.02
QUEUE_BYTES = 16 << 20
IDLE_EVERY_S = 60.0


class BatchIngest:
    """``handle`` each queued message, ``sync`` once per batch, then ``ack`` the batch.

    ``handle`` returns None for a message it could not answer at all (left unacknowledged: the broker delivers it
    again after a reconnect); anything else is an answer. :meth:`run` is the worker thread's body; ``idle`` is
    called from it at most every ``idle_every`` seconds, between batches.
    """

    def __init__(
        self,
        handle: Callable[[InboundMessage], object],
        sync: Callable[[], None],
        ack: Callable[[InboundMessage], object],
        *,
        batch_max: int = BATCH_MAX,
        window_s: float = BATCH_WINDOW_S,
        max_bytes: int = QUEUE_BYTES,
        idle: Callable[[], object] | None = None,
        idle_every: float = IDLE_EVERY_S,
    ) -> None:
        self._handle = handle
        self._sync = sync
        self._ack = ack
        self._batch_max = batch_max
        self._window_s = window_s
        self._max_bytes = max_bytes
        self._idle = idle
        self._idle_every = idle_every
        self._last_idle = time.monotonic()
        self._queue: queue.SimpleQueue[InboundMessage | None] = queue.SimpleQueue()
        self._room = threading.Condition()
        self._held = 0  # bytes received and not yet handled
        self._closed = False
        self.batch_sizes: Counter[int] = Counter()

    def put(self, msg: InboundMessage) -> None:
        """Queue ``msg``; waits while the messages held already exceed the byte budget (never for the first)."""
        size = len(msg.payload)
        with self._room:
            while self._held and self._held + size > self._max_bytes and not self._closed:
                self._room.wait(1.0)
            self._held += size
        self._queue.put(msg)

    def close(self) -> None:
        """Let :meth:`run` return once everything queued so far is handled, synced and acknowledged."""
        with self._room:
            self._closed = True
            self._room.notify_all()
        self._queue.put(None)

    def run(self) -> None:
        closing = False
        while not closing:
            try:
                first = self._queue.get(timeout=self._idle_every if self._idle else None)
            except queue.Empty:
                self._maybe_idle()
                continue
            if first is None:
                return
            batch, closing = self._take(first)
            self._commit(batch)
            self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self._idle is None or time.monotonic() - self._last_idle < self._idle_every:
            return
        self._last_idle = time.monotonic()
        try:
            self._idle()
        except Exception:  # housekeeping must never stop intake
            log.exception("housekeeping failed")

    def _take(self, first: InboundMessage) -> tuple[list[InboundMessage], bool]:
        """Handle ``first`` and whatever is already queued (up to the batch size and time window). Returns the
        answered messages (without their payloads: to acknowledge), and whether the close marker came."""
        batch: list[InboundMessage] = []
        taken = 0
        deadline = time.monotonic() + self._window_s
        msg: InboundMessage | None = first
        while msg is not None:
            taken += 1
            if self._handled(msg):
                batch.append(msg.without_payload())
            self._release(len(msg.payload))  # handled: its bytes are no longer held for it
            if taken >= self._batch_max or time.monotonic() >= deadline:
                return batch, False
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True  # the close marker: commit this batch and stop

    def _handled(self, msg: InboundMessage) -> bool:
        try:
            answer = self._handle(msg)
        except Exception:
            # Not acknowledged: the broker delivers it again after a reconnect (or to another worker).
            log.exception("message on %s failed; left unacknowledged", msg.topic)
            return False
        return answer is not None

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

    def _release(self, size: int) -> None:
        with self._room:
            self._held -= size
            self._room.notify_all()
