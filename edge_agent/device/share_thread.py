"""The share thread: finished segments leave the frame loop here, so sealing and fsync never delay a frame.

The frame loop only redacts and encodes. Each finished segment goes into a small bounded queue served by one
thread, which keeps it in local retention, checks consent again right before sealing, seals, spools it in the
durable outbox and wakes the publisher. One thread keeps the chain's order (``seq`` and ``prev_hash``).

When the queue is full (the disk or the sealer fell far behind), the frame loop does not wait for it: the
segment is neither shared nor retained, and that is counted (``share_backlog``) and audited. Sharing fails
closed; the camera keeps running. Unpaced sources (files, the synthetic scene with ``--fast``) wait for room
instead, so that offline processing loses nothing.

Whether a segment may leave is the consent gate's decision (:mod:`edge_agent.device.consent_gate`), taken
right before sealing, so a revocation since the segment was cut stops it there.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.core.audit import AuditLog
from edge_agent.device.consent_gate import ConsentGate
from edge_agent.device.memory import release_free_memory
from edge_agent.segment.model import Segment

log = logging.getLogger(__name__)

QUEUE_SEGMENTS = 4  # 8 s of 2 s live segments (about 2 MB at 720p): a slow fsync, not a dead disk
BACKLOG = "share_backlog"
TRIM_EVERY_S = 2.0  # hand free memory back at least this often, also between the 10 s segments of normal mode


@dataclass(frozen=True, slots=True)
class Finished:
    """A finished segment and what the frame loop knew when it was cut."""

    segment: Segment
    scene_shifted: bool  # the view had moved away from the calibrated scene: never shared, never retained


class ShareWorker:
    """One thread that retains, seals and spools finished segments in the order they were made."""

    def __init__(
        self,
        *,
        gate: ConsentGate,
        audit: AuditLog,
        retain: Callable[[Segment], None],
        notify: Callable[[], None],
        events: Counter[str],
        capacity: int = QUEUE_SEGMENTS,
    ) -> None:
        self._gate = gate
        self._audit = audit
        self._retain = retain
        self._notify = notify
        self._events = events
        self._queue: queue.Queue[Finished | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="share", daemon=True)
        self.shared = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, segment: Segment, *, scene_shifted: bool, wait: bool = False) -> bool:
        """Hand a finished segment over. Never blocks unless ``wait``; False when it was refused (queue full)."""
        item = Finished(segment, scene_shifted)
        if wait:
            self._queue.put(item)
            return True
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._events[BACKLOG] += 1
            log.warning("share queue full: segment %d neither shared nor retained", segment.meta.seq)
            self._audit.note(BACKLOG, segment=segment.meta.seq, start=segment.meta.start, end=segment.meta.end)
            return False
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Finish every segment already handed over, then end the thread."""
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.error("share thread did not finish within %.0f s", timeout)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=TRIM_EVERY_S)
            except queue.Empty:
                release_free_memory()
                continue
            if item is None:
                return
            try:
                self._handle(item)
            except Exception:  # a bad segment must not end sharing for the ones after it
                log.exception("segment %d: share step failed; not shared", item.segment.meta.seq)
                self._events["share_error"] += 1
            del item
            # Once per segment, off the frame loop: the frames, the segment and its sealed copy are freed by now,
            # and glibc would otherwise keep their pages (see edge_agent.device.memory).
            release_free_memory()

    def _handle(self, item: Finished) -> None:
        if item.scene_shifted:
            return
        self._retain(item.segment)  # local retention, encrypted at rest
        if self._gate.share(item.segment) is None:
            return
        self.shared += 1
        self._notify()
