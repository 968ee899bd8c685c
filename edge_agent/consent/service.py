"""The daemon's side of consent: retention, police requests, answers and the published audit log head.

Runs a small worker thread. The MQTT network thread only queues incoming requests (a callback must not block
or publish); the worker checks them into the inbox, expires unanswered ones, publishes the answers the
homeowner gave (for an approval, first the window's segments from retention, re-sealed for the center under
the request id and taking the next numbers in the device's chain), prunes retention and publishes a signed
audit log head every ``HEAD_EVERY_S`` seconds.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

from edge_agent.config import keys
from edge_agent.config.models import Profile
from edge_agent.consent.audit import AuditLog, LogHead
from edge_agent.consent.requests import Inbox, InboxEntry, answer_document
from edge_agent.consent.retention import Retention
from edge_agent.consent.state import ConsentRecord, ConsentStore
from edge_agent.errors import EdgeAgentError
from edge_agent.fsutil import atomic_write
from edge_agent.identity import DeviceIdentity, DevicePaths
from edge_agent.seal.signed import sign_document
from edge_agent.segment.model import Segment
from edge_agent.sharing import Sharer
from edge_agent.uplink import Uplink

log = logging.getLogger(__name__)

TICK_S = 0.5
HEAD_EVERY_S = 60.0
PRUNE_EVERY_S = 60.0


def loghead_document(head: LogHead, device_id: str, now: float) -> dict[str, Any]:
    return {"type": "loghead", "device_id": device_id, "count": head.count, "last_hash": head.last_hash,
            "time": round(now, 3)}


def request_record(entry: InboxEntry) -> ConsentRecord:
    """The approved request, as the record a re-sealed segment names (its id is the request id)."""
    req = entry.request
    return ConsentRecord(req.id, "on-request", entry.answered_at or req.issued_at, req.start, req.end)


class ConsentService:
    def __init__(
        self,
        paths: DevicePaths,
        profile: Profile,
        identity: DeviceIdentity,
        *,
        consent: ConsentStore,
        audit: AuditLog,
        uplink: Uplink | None = None,
        sharer: Sharer | None = None,
    ) -> None:
        self.paths = paths
        self.profile = profile
        self.identity = identity
        self.consent = consent
        self.audit = audit
        self.uplink = uplink
        self.sharer = sharer
        self.retention = Retention(paths, identity.signing_key, profile.retention.hours, profile.retention.max_bytes)
        self.inbox = Inbox(paths)
        self._incoming: queue.Queue[bytes] = queue.Queue(maxsize=64)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_head = 0.0
        self._last_prune = 0.0
        self._fail_closed: tuple[str, ...] = ()
        self._center_key = None
        if uplink is not None:
            _, self._center_key = keys.center_public_keys(uplink.enrollment.center, "enrollment.json: center")

    # -- wiring ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Call before the uplink connects, so the request subscription goes out with the first CONNACK."""
        if self.uplink is not None:
            self.uplink.listen(self.uplink.topics.requests, self._queue_request)
        self._thread = threading.Thread(target=self._run, name="consent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self._publish_head(time.time())
        except (OSError, EdgeAgentError) as exc:
            log.error("audit log head not published at stop: %s", exc)

    def _queue_request(self, payload: bytes) -> None:
        try:
            self._incoming.put_nowait(payload)
        except queue.Full:
            log.warning("request queue full: a request message was dropped")

    # -- called from the main loop ---------------------------------------------------------------------------

    def segment_made(self, segment: Segment) -> None:
        """Keep a redacted segment in retention, unless consent is off (then nothing is kept for anyone)."""
        if self.consent.current().mode == "off":
            return
        try:
            self.retention.keep(segment)
            # The cap holds at every write, not only at the next periodic prune.
            self._prune(time.time())
        except (OSError, EdgeAgentError) as exc:
            log.error("segment %d not retained: %s", segment.meta.seq, exc)

    def _prune(self, now: float) -> None:
        pruned = self.retention.prune(now)
        if pruned.expired:
            log.info("retention: %d segment(s) past %g h deleted", len(pruned.expired), self.retention.hours)
            self.audit.note("retention_expired", count=len(pruned.expired), hours=self.retention.hours)
        if pruned.evicted:
            log.warning("retention: at its cap, %d oldest segment(s) deleted", len(pruned.evicted))
            self.audit.note(
                "retention_evicted",
                count=len(pruned.evicted),
                max_bytes=self.retention.max_bytes,
                oldest_start=pruned.evicted[0].start,
                newest_end=pruned.evicted[-1].end,
            )

    def frame_redacted(self, reasons: tuple[str, ...]) -> None:
        """Audit fail-closed episodes: one entry when wide masking starts or its reasons change, one when it
        ends (not one per frame)."""
        if reasons == self._fail_closed:
            return
        if reasons:
            self.audit.note("fail_closed", reasons=sorted(set(reasons)))
        else:
            self.audit.note("fail_closed_end", reasons=sorted(set(self._fail_closed)))
        self._fail_closed = reasons

    # -- worker ------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick(time.time())
            except (OSError, EdgeAgentError) as exc:
                log.error("consent worker: %s", exc)

    def tick(self, now: float) -> None:
        self._take_requests(now)
        self.inbox.expire_due(now)
        for entry in self.inbox.entries():
            if entry.state != "pending" and not entry.published:
                self._answer(entry, now)
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            self._prune(now)
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
                entry = self.inbox.receive(
                    payload, center_key=self._center_key, device_id=self.identity.device_id,
                    max_window_hours=self.profile.consent.max_request_window_hours,
                    mode=self.consent.current().mode, now=now,
                )
            except EdgeAgentError as exc:
                log.warning("police request rejected: %s", exc)
                continue
            log.info("police request %s for case %s waits for the homeowner's answer", entry.id,
                     entry.request.case_id)

    def _answer(self, entry: InboxEntry, now: float) -> None:
        if self.uplink is None:
            return
        segments: list[dict[str, Any]] = []
        if entry.state == "approved":
            # Wait until the window's last segment has been cut, so that "exactly the window" is complete.
            if now < entry.request.end + self.profile.segment.seconds + 1.0:
                return
            segments = self._share_window(entry)
        doc = answer_document(entry, self.identity.device_id, segments)
        self.uplink.link.publish(self.uplink.topics.answers, sign_document(doc, self.identity.signing_key),
                                 qos=1, content_type="application/json")
        self.inbox.mark_published(entry, tuple(int(s["seq"]) for s in segments))
        self.audit.append("answer_published", request_id=entry.id, decision=entry.state, segments=len(segments))
        log.info("answer to request %s published: %s, %d segment(s)", entry.id, entry.state, len(segments))

    def _share_window(self, entry: InboxEntry) -> list[dict[str, Any]]:
        if self.sharer is None or self.uplink is None:
            return []
        record = request_record(entry)
        shared: list[dict[str, Any]] = []
        for item in self.retention.window(entry.request.start, entry.request.end):
            segment = self.retention.open(item)
            sealed = self.sharer.share(segment, record)
            if sealed is None:
                continue
            shared.append({"seq": sealed.meta.seq, "start": sealed.meta.start, "end": sealed.meta.end,
                           "header_hash": sealed.header_hash})
        self.uplink.notify()
        return shared

    def _publish_head(self, now: float) -> None:
        self._last_head = now
        head = self.audit.head()
        signed = sign_document(loghead_document(head, self.identity.device_id, now), self.identity.signing_key)
        # Kept locally too: ``audit verify`` uses it to catch a log cut short after the head was published.
        atomic_write(self.paths.root / "loghead.json", signed, mode=0o600)
        if self.uplink is not None:
            self.uplink.link.publish(self.uplink.topics.loghead, signed, qos=1, retain=True,
                                     content_type="application/json")


def read_local_head(paths: DevicePaths) -> LogHead | None:
    """The last log head this device signed, if any (not re-verified: the center holds the proof copy)."""
    try:
        wire = json.loads((paths.root / "loghead.json").read_text(encoding="utf-8"))
        doc = wire["doc"]
        return LogHead(int(doc["count"]), str(doc["last_hash"]))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
