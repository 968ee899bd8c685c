"""The request worker: police requests in, the homeowner's answers out, and the signed audit log head.

The MQTT network thread checks each message's signature against the enrolled center key and queues only those
that verify (a callback must not block or publish), so a flood of junk on the requests topic never takes the place
of a genuine request in the queue; refusals reach the audit log at a bounded rate (:class:`RejectionLog`). This
worker's thread checks the queued ones into the inbox, expires unanswered ones, publishes the answers the homeowner
gave (for an approval, first the window's segments from retention, re-sealed through the consent gate under the
request id and taking the next numbers in the device's chain) and publishes a signed audit log head every
``HEAD_EVERY_S`` seconds.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

from edge_agent.config import keys
from edge_agent.config.identity import DeviceIdentity
from edge_agent.config.models import ConsentCaps, Enrollment
from edge_agent.consent.inbox import Inbox, InboxEntry, answer_document
from edge_agent.consent.loghead import loghead_document, loghead_path
from edge_agent.consent.rejections import RejectionLog
from edge_agent.consent.retention import Retention
from edge_agent.consent.state import ConsentRecord
from edge_agent.core.audit import AuditLog
from edge_agent.core.files import atomic_write
from edge_agent.core.paths import DevicePaths
from edge_agent.device.consent_gate import ConsentGate
from edge_agent.device.resender import Resender
from edge_agent.device.ticker import Ticker
from edge_agent.device.uplink import CenterLink
from edge_agent.errors import EdgeAgentError, OpenError
from edge_agent.seal.signed import document_type, sign_document, verify_document

log = logging.getLogger(__name__)

TICK_S = 0.5
HEAD_EVERY_S = 60.0
INCOMING_MAX = 64


def request_record(entry: InboxEntry) -> ConsentRecord:
    """The approved request, as the record a re-sealed segment names (its id is the request id)."""
    req = entry.request
    return ConsentRecord(req.id, "on-request", entry.answered_at or req.issued_at, req.start, req.end)


class RequestWorker:
    def __init__(
        self,
        paths: DevicePaths,
        identity: DeviceIdentity,
        *,
        audit: AuditLog,
        gate: ConsentGate,
        retention: Retention,
        caps: ConsentCaps,
        segment_seconds: float,
        link: CenterLink | None = None,
        enrollment: Enrollment | None = None,
        resender: Resender | None = None,
    ) -> None:
        self.paths = paths
        self.identity = identity
        self.audit = audit
        self.gate = gate
        self.retention = retention
        self.caps = caps
        self.segment_seconds = segment_seconds
        self.link = link
        self.resender = resender
        self.inbox = Inbox(paths)
        self._incoming: queue.Queue[bytes] = queue.Queue(maxsize=INCOMING_MAX)
        self.rejections = RejectionLog(audit, "request_rejected")
        self._ticker = Ticker("request worker", TICK_S, self.tick)
        self._last_head = 0.0
        self._center_key = None
        if enrollment is not None:
            _, self._center_key = keys.center_public_keys(enrollment.center, "enrollment.json: center")

    def follow(self, caps: ConsentCaps, segment_seconds: float) -> None:
        """A reloaded profile: its request caps and segment length apply from the next request on."""
        self.caps, self.segment_seconds = caps, segment_seconds

    def start(self) -> None:
        """Call before the uplink connects, so the request subscription goes out with the first CONNACK."""
        if self.link is not None:
            self.link.listen_requests(self._queue_request)
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()
        self.rejections.flush(force=True)
        try:
            self._publish_head(time.time())
        except (OSError, EdgeAgentError) as exc:
            log.error("audit log head not published at stop: %s", exc)

    def _queue_request(self, payload: bytes) -> None:
        """On the network thread: only a message the enrolled center signed takes a place in the queue."""
        if self._center_key is None:
            return
        try:
            verify_document(payload, self._center_key)
        except OpenError:
            self.rejections.note("request signature does not verify against the enrolled center key")
            return
        try:
            self._incoming.put_nowait(payload)
        except queue.Full:  # only the center's key can fill it; it sends unanswered requests again
            log.warning("request queue full: %d signed requests wait; one was dropped", INCOMING_MAX)

    def tick(self, now: float) -> None:
        if self.link is not None:
            self.link.announce_if_reconnected(self.gate.current())
        self._take_requests(now)
        self.rejections.flush()
        self.inbox.expire_due(now)
        for entry in self.inbox.entries():
            if entry.state != "pending" and not entry.published:
                self._answer(entry, now)
        if now - self._last_head >= HEAD_EVERY_S:
            self._publish_head(now)

    def _take_requests(self, now: float) -> None:
        while True:
            try:
                payload = self._incoming.get_nowait()
            except queue.Empty:
                return
            if self._center_key is None:
                return
            try:
                if document_type(payload) == "resend":
                    if self.resender is not None:
                        self.resender.receive(payload, now)
                    continue
                entry = self.inbox.receive(
                    payload, center_key=self._center_key, device_id=self.identity.device_id,
                    max_window_hours=self.caps.max_request_window_hours,
                    mode=self.gate.current().mode, now=now,
                )
            except EdgeAgentError as exc:
                log.warning("message on the requests topic refused: %s", exc)
                continue
            if entry.state == "refused":
                log.warning("police request %s refused: %s", entry.id, entry.answer_reason)
            elif entry.state == "pending":
                log.info("police request %s for case %s waits for the homeowner's answer", entry.id,
                         entry.request.case_id)

    def _answer(self, entry: InboxEntry, now: float) -> None:
        if self.link is None:
            return
        kept = self.inbox.answer_path(entry.id)
        if kept.exists():
            # The same request came again (it is the device's only way to learn the answer was missed): the
            # same answer, byte for byte, and nothing shared twice.
            signed = kept.read_bytes()
            self.link.publish_answer(signed)
            self.inbox.mark_published(entry, signed)
            self.audit.append("answer_republished", request_id=entry.id, decision=entry.state)
            return
        segments: list[dict[str, Any]] = []
        if entry.state == "approved":
            # Wait until the window's last segment has been cut, so that the whole window is there.
            if now < entry.request.end + self.segment_seconds + 1.0:
                return
            segments = self._share_window(entry)
            if self.inbox.get(entry.id).state == "withdrawn":
                # Consent was revoked while the window was being sealed: none of it leaves.
                self.gate.withhold_request(entry.id)
                entry, segments = self.inbox.get(entry.id), []
        signed = sign_document(answer_document(entry, self.identity.device_id, segments), self.identity.signing_key)
        self.link.publish_answer(signed)
        self.inbox.mark_published(entry, signed, tuple(int(s["seq"]) for s in segments))
        self.audit.append("answer_published", request_id=entry.id, decision=entry.state, segments=len(segments),
                          seqs=[int(s["seq"]) for s in segments])
        log.info("answer to request %s published: %s, %d segment(s)", entry.id, entry.state, len(segments))

    def _share_window(self, entry: InboxEntry) -> list[dict[str, Any]]:
        if self.link is None:
            return []
        record = request_record(entry)
        shared: list[dict[str, Any]] = []
        for item in self.retention.window(entry.request.start, entry.request.end):
            sealed = self.gate.share_requested(self.retention.open(item), record)
            if sealed is None:
                continue
            shared.append({"seq": sealed.meta.seq, "start": sealed.meta.start, "end": sealed.meta.end,
                           "header_hash": sealed.header_hash})
        self.link.notify()
        return shared

    def _publish_head(self, now: float) -> None:
        self._last_head = now
        head = self.audit.head()
        shared = -1 if self.link is None else self.link.shared_seq()
        signed = sign_document(loghead_document(head, self.identity.device_id, now, shared),
                               self.identity.signing_key)
        # Kept locally too: ``audit verify`` uses it to catch a log cut short after the head was published.
        atomic_write(loghead_path(self.paths), signed, mode=0o600)
        if self.link is not None:
            self.link.publish_loghead(signed)
