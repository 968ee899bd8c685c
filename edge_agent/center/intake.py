"""The center's intake: one message in, one answer out, whatever the message holds or raises.

:meth:`Intake.handle` takes any message the center receives and returns what became of it: a segment stored,
a duplicate, a segment held until its consent record arrives, a consent record / answer / log head / status
accepted, a part kept until its set is complete, a refusal (counted, and one line in ``rejected.jsonl``), or, when
the center's own code failed on it ``tries`` times, the message set aside in the bounded ``deadletter/`` folder.
Each of these is final: the subscriber acknowledges the message. Only when even setting it aside fails (a dead
disk) does :meth:`Intake.handle` return None, and the message stays unacknowledged for the broker to redeliver.

This is the one entry point a receiver needs (the subscriber, the benchmarks, and an index or console built on
the center): ``handle(message)``, ``sync()`` before acknowledging, and ``housekeeping()`` every few seconds (it
runs the repair of each device's chain, :mod:`edge_agent.center.repair`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from edge_agent.center.consent_check import Learned
from edge_agent.center.deadletter import DeadLetters
from edge_agent.center.ingest import Ingestor, IngestResult
from edge_agent.center.keys import CenterKeys, CenterPaths, DeviceRegistry
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.presence import PresenceBook
from edge_agent.center.repair import Repair
from edge_agent.errors import EdgeAgentError, OpenError, TransportError
from edge_agent.seal import peek_head
from edge_agent.seal.signed import MAX_DOCUMENT_LEN, document_type
from edge_agent.transport.model import InboundMessage
from edge_agent.transport.reassembly import Reassembler
from edge_agent.transport.topics import (
    ANSWERS,
    CONSENT,
    LOGHEAD,
    MASKING_ANSWER,
    SEGMENTS,
    STATUS,
    Topics,
    device_filter,
    parse_topic,
)

log = logging.getLogger(__name__)

TRIES = 3
PURGE_EVERY_S = 60.0
ONLINE_AGAIN_S = 30.0  # a device saying "online" again gets what waits for it sent again at most this often
CONTROL_KINDS = (CONSENT, ANSWERS, LOGHEAD, STATUS, MASKING_ANSWER)


class Intake:
    def __init__(
        self,
        paths: CenterPaths,
        keys: CenterKeys,
        registry: DeviceRegistry,
        topic_prefix: str,
        counts: Counter[str] | None = None,
        *,
        durable: bool = True,
        check_consent: bool = True,
        tries: int = TRIES,
        on_online: Callable[[str], None] | None = None,
        publish: Callable[..., object] | None = None,
    ) -> None:
        """``publish(topic, payload, **properties)`` sends the center's resend requests (None: no repair asks)."""
        self.paths = paths
        self.prefix = topic_prefix
        self.registry = registry
        self.ingestor = Ingestor(paths, keys, registry, topic_prefix, counts, check_consent=check_consent,
                                 durable=durable)
        self.reassembler = Reassembler(paths.parts, admit=self._enrolled_topic, screen=self._screen)
        self.presence = PresenceBook(paths.status)
        self.neighbours = NeighbourDesk(paths)
        self.deadletters = DeadLetters(paths.deadletter)
        self.repair = Repair(paths, keys, registry, topic_prefix, publish=publish, book=self.ingestor.consent)
        self.tries = tries
        self._last_purge = 0.0
        self._durable = durable
        self._on_online = on_online
        self._online_again: dict[str, float] = {}  # device -> when what waits for it was last sent again

    @property
    def counts(self) -> Counter[str]:
        return self.ingestor.counts

    def sync(self) -> None:
        """Make everything handled since the last call durable (OSError if the disk fails)."""
        self.ingestor.sync()

    def handle(self, msg: InboundMessage) -> IngestResult | None:
        """What became of ``msg``; None only when it could not even be set aside (leave it unacknowledged)."""
        failure: BaseException | None = None
        for attempt in range(1, self.tries + 1):
            try:
                return self._handle(msg)
            except EdgeAgentError as exc:
                return self._refuse(msg, str(exc))
            except Exception as exc:  # a bug or a failing disk: tried again, then set aside
                failure = exc
                log.warning("message on %s failed (try %d of %d): %r", msg.topic, attempt, self.tries, exc)
        reason = f"failed {self.tries} times: {failure!r}"[:500]
        try:
            self.deadletters.put(msg.topic, msg.payload, reason)
        except OSError as exc:
            log.error("message on %s could not be set aside either, left unacknowledged: %s", msg.topic, exc)
            return None
        device, kind = self._where(msg.topic)
        return self.ingestor.record(IngestResult("set-aside", reason, device, kind=kind))

    def housekeeping(self, now: float | None = None) -> None:
        """Ask devices for what never arrived (every call); once a minute, drop held segments whose consent never
        came and message parts of sets that never completed."""
        now = time.time() if now is None else now
        self.repair.tick(now)
        if now - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = now
        for held in self.ingestor.pending.expire(now):
            self.ingestor.record(IngestResult("rejected", "held too long: its consent record never arrived",
                                              held.device_id, held.seq))
        self.reassembler.purge(now)

    # -- one message -------------------------------------------------------------------------------------------

    def _where(self, topic: str) -> tuple[str | None, str]:
        try:
            return parse_topic(self.prefix, topic)
        except TransportError:
            return None, "unknown"

    def _refuse(self, msg: InboundMessage, reason: str) -> IngestResult:
        device, kind = self._where(msg.topic)
        return self.ingestor.record(IngestResult("rejected", reason[:300], device, kind=kind))

    def _enrolled_topic(self, topic: str) -> bool:
        device, _ = self._where(topic)
        return device is not None and self.registry(device) is not None

    def _screen(self, topic: str, head: bytes, size: int) -> str:
        """Before a joined message is read into memory: can it be what its topic carries, from that device?"""
        device, kind = self._where(topic)
        if kind != SEGMENTS:
            return "" if size <= MAX_DOCUMENT_LEN else "a document larger than any signed document"
        try:
            header = peek_head(head, size)
        except OpenError:
            return "not a sealed segment"
        return "" if header.device_id == device else "a sealed segment of another device"

    def _handle(self, msg: InboundMessage) -> IngestResult:
        device, kind = parse_topic(self.prefix, msg.topic)  # TransportError: refused
        payload = self.reassembler.feed(msg)
        if payload is None:
            return self.ingestor.record(IngestResult("part", "", device, kind=kind))
        if kind == SEGMENTS:
            return self.ingestor.ingest(msg.topic, payload)
        if kind == STATUS:
            return self._learned(self._status(device, payload, msg.retain), device, kind)
        if kind not in CONTROL_KINDS:
            return self._refuse(msg, f"the center takes no {kind} messages")
        if kind == MASKING_ANSWER:  # a homeowner's answer to a neighbour (edge_agent.center.neighbours)
            status, reason = self.neighbours.learn_answer(device, payload, self.registry)
            return self.ingestor.record(IngestResult(status, reason, device, kind=kind))
        if kind == ANSWERS and document_type(payload) == "resend-answer":
            return self._learned(self.repair.learn(device, payload), device, kind)
        book = self.ingestor.consent
        if book is None:
            return self.ingestor.record(IngestResult("accepted", "consent is not checked here", device, kind=kind))
        learned = book.learn(device, kind, payload, durable=self._durable)
        if learned.status == "new" and learned.doc_id:
            # Only the segments that name this record or request are due for another look.
            segments = Topics(self.prefix, device).segments
            self.ingestor.pending.recheck(device, learned.doc_id,
                                          lambda data: self.ingestor.ingest(segments, data), self.sync)
        return self._learned(learned, device, kind)

    def _status(self, device: str, payload: bytes, retained: bool) -> Learned:
        learned, came_online = self.presence.learn(device, payload, retained=retained, durable=self._durable)
        seen = self.presence.get(device) if learned.status == "new" and not retained else None
        # Said live by an enrolled device itself: not its last will, not a replay of the broker's store. A device
        # says "online" after every (re)connection; a broker that crashed published no last will in between, and
        # lost what it queued for the device: what waits for it is sent again (at most every ONLINE_AGAIN_S).
        spoke = seen is not None and seen.online and self.registry(device) is not None
        now = time.monotonic()
        again = spoke and seen is not None and seen.state == "online" \
            and now - self._online_again.get(device, -ONLINE_AGAIN_S) >= ONLINE_AGAIN_S
        if came_online or again:
            self._online_again[device] = now
            if self._on_online is not None:
                self._on_online(device)
        if spoke:
            self.repair.device_spoke(device)
        return learned

    def _learned(self, learned: Learned, device: str, kind: str) -> IngestResult:
        if learned.status == "refused":
            return self.ingestor.record(IngestResult("rejected", learned.reason, device, kind=kind))
        return self.ingestor.record(IngestResult("accepted", learned.reason, device, kind=kind))


def control_filters(prefix: str) -> list[str]:
    """Every worker subscribes to these itself (never as a shared group): each needs every record."""
    return [device_filter(prefix, kind) for kind in CONTROL_KINDS]
