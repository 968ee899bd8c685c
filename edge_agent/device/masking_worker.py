"""The masking worker: neighbours' masking requests in, the homeowner's signed answers (with a still) out.

Requests are checked on paho's network thread as they arrive (signature, fields, deadline, replay), so a flood of
junk never takes a place in the queue that a genuine request needs: junk costs one signature check and a counter;
refusals reach the audit log at a bounded rate (:class:`RejectionLog`). Only authentic requests are queued, and
this worker's thread files them in the inbox, expires those past their deadline, and publishes each answer: at
once for ``declined`` and ``expired``; for ``masked`` once the frame loop has made a redacted still under zones
that include the ones the homeowner named (:class:`StillCamera`).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable

from edge_agent.config import keys
from edge_agent.config.identity import DeviceIdentity
from edge_agent.config.in_force import Policy
from edge_agent.config.models import Enrollment
from edge_agent.consent.masking import AnswerZone, MaskingAnswer, MaskingRequest
from edge_agent.consent.masking_inbox import MaskingEntry, MaskingInbox
from edge_agent.consent.rejections import RejectionLog
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device.stills import StillCamera, TakenStill
from edge_agent.device.ticker import Ticker
from edge_agent.device.uplink import CenterLink
from edge_agent.errors import EdgeAgentError
from edge_agent.seal.signed import sign_document

log = logging.getLogger(__name__)

TICK_S = 1.0
QUEUED_MAX = 64


class MaskingWorker:
    def __init__(
        self,
        paths: DevicePaths,
        identity: DeviceIdentity,
        *,
        audit: AuditLog,
        stills: StillCamera,
        policy: Callable[[], Policy],
        link: CenterLink | None = None,
        enrollment: Enrollment | None = None,
    ) -> None:
        self.identity = identity
        self.inbox = MaskingInbox(paths)
        self.audit = audit
        self.stills = stills
        self.policy = policy
        self.link = link
        self.rejections = RejectionLog(audit, "masking_rejected")
        self._center_key = None
        if enrollment is not None:
            _, self._center_key = keys.center_public_keys(enrollment.center, "enrollment.json: center")
        self._authentic: queue.Queue[MaskingRequest] = queue.Queue(maxsize=QUEUED_MAX)
        self._ticker = Ticker("masking worker", TICK_S, self.tick)

    def start(self) -> None:
        """Call before the uplink connects, so the subscription goes out with the first CONNACK."""
        if self.link is not None:
            self.link.listen_masking(self.check)
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()
        self.rejections.flush(force=True)

    def check(self, payload: bytes) -> None:
        """On the network thread: keep an authentic request, count anything else."""
        if self._center_key is None:
            return
        try:
            request = self.inbox.authentic(payload, self._center_key, self.identity.device_id, time.time())
        except EdgeAgentError as exc:
            self.rejections.note(str(exc))
            return
        if request is None:
            return  # already in the inbox: sent again by the center
        try:
            self._authentic.put_nowait(request)
        except queue.Full:  # only the center's key fills this; it sends the request again
            log.warning("masking request %s dropped: %d authentic requests already wait", request.id, QUEUED_MAX)

    def tick(self, now: float) -> None:
        while True:
            try:
                request = self._authentic.get_nowait()
            except queue.Empty:
                break
            entry = self.inbox.accept(request, now)
            log.info("a neighbour asks to mask %r (%s): waits for the homeowner's answer", request.property, entry.id)
        self.inbox.expire_due(now)
        self.rejections.flush()
        for entry in self.inbox.entries():
            if entry.state != "pending" and not entry.published:
                self._answer(entry, now)
                return  # one answer (and one still) at a time

    def _answer(self, entry: MaskingEntry, now: float) -> None:
        if self.link is None:
            return
        taken: TakenStill | None = None
        zones: tuple[AnswerZone, ...] = ()
        if entry.state == "masked":
            named = [z for z in self.policy().zones if z.name in entry.zones and z.kind == "neighbour"]
            if len(named) != len(entry.zones):
                # Right after `requests mask` draws a zone the frame loop has not loaded it yet: a wait, not an error.
                log.warning("masking answer %s waits: zone(s) %s not in force in the running agent (not loaded yet, "
                            "or removed since)", entry.id,
                            ", ".join(entry.zones))
                return
            self.stills.ask(named)
            taken = self.stills.take()
            if taken is None:
                return  # the frame loop makes it; the next tick looks again
            zones = tuple(AnswerZone(z.name, tuple((float(x), float(y)) for x, y in z.coordinates)) for z in named)
        answer = MaskingAnswer(
            device_id=self.identity.device_id, request_id=entry.id, decision=entry.state,  # type: ignore[arg-type]
            reason=entry.reason, zones=zones, profile_hash="" if taken is None else taken.policy_hash,
            still=None if taken is None else taken.still, fail_closed=() if taken is None else taken.fail_closed,
            answered_at=entry.answered_at or now,
        )
        if not self.link.publish_masking_answer(sign_document(answer.to_doc(), self.identity.signing_key)):
            return  # the broker is away: the next tick sends it again
        sha = "" if answer.still is None else answer.still.sha256
        self.inbox.mark_published(entry, sha)
        self.audit.append("masking_answer_published", request_id=entry.id, decision=entry.state,
                          zones=list(entry.zones), still_sha256=sha, fail_closed=list(answer.fail_closed))
        log.info("masking answer %s published: %s", entry.id, entry.state)
