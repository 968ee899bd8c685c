"""The retention worker: every redacted segment kept on the device (encrypted at rest) while consent is on, and
the retention rules (``retention.hours``, ``retention.max_bytes``) applied at each write and once a minute.

The archive of what was shared (sealed for the center, kept so that a segment the center missed can be sent
again: :mod:`edge_agent.outbox.archive`) follows the same hours, within the outbox's byte cap.

With consent off nothing is kept for anyone. A reloaded profile's rules apply from the next write or prune on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from edge_agent.config.models import RetentionSettings
from edge_agent.consent.retention import Retention
from edge_agent.core.audit import AuditLog
from edge_agent.device.consent_gate import ConsentGate
from edge_agent.errors import EdgeAgentError
from edge_agent.outbox.archive import SentArchive
from edge_agent.segment.model import Segment

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 60.0


@dataclass(slots=True)
class SharedRetention:
    """The archive of what was shared, and its byte cap (the profile's ``outbox.max_bytes``)."""

    archive: SentArchive
    max_bytes: int


class RetentionWorker:
    def __init__(
        self, retention: Retention, gate: ConsentGate, audit: AuditLog, shared: SharedRetention | None = None
    ) -> None:
        self.retention = retention
        self.shared = shared
        self._gate = gate
        self._audit = audit
        self._lock = threading.Lock()  # one write or prune at a time; the rules change between them
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, settings: RetentionSettings) -> None:
        with self._lock:
            self.retention.hours, self.retention.max_bytes = settings.hours, settings.max_bytes
        self.prune(time.time())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(PRUNE_EVERY_S):
            self.prune(time.time())

    def keep(self, segment: Segment) -> None:
        """Keep a redacted segment, unless consent is off (then nothing is kept for anyone)."""
        if self._gate.current().mode == "off":
            return
        try:
            with self._lock:
                self.retention.keep(segment)
        except (OSError, EdgeAgentError) as exc:
            log.error("segment %d not retained: %s", segment.meta.seq, exc)
            return
        self.prune(time.time())  # the cap holds at every write, not only at the next periodic prune

    def prune(self, now: float) -> None:
        try:
            with self._lock:
                pruned = self.retention.prune(now)
                if self.shared is not None:
                    self.shared.archive.prune(now, self.retention.hours * 3600.0, self.shared.max_bytes)
        except (OSError, EdgeAgentError) as exc:
            log.error("retention not pruned: %s", exc)
            return
        if pruned.expired:
            log.info("retention: %d segment(s) past %g h deleted", len(pruned.expired), self.retention.hours)
            self._audit.note("retention_expired", count=len(pruned.expired), hours=self.retention.hours)
        if pruned.evicted:
            log.warning("retention: at its cap, %d oldest segment(s) deleted", len(pruned.evicted))
            self._audit.note(
                "retention_evicted",
                count=len(pruned.evicted),
                max_bytes=self.retention.max_bytes,
                oldest_start=pruned.evicted[0].start,
                newest_end=pruned.evicted[-1].end,
            )
