"""Answering the center's resend requests from what the device shared, byte for byte.

The center asks (:mod:`edge_agent.consent.resend`) for sequence numbers of this device's chain it never received.
For each one the device looks at its outbox and its archive of what was shared (:mod:`edge_agent.outbox.archive`):

* still waiting in the outbox, or kept as sent: it is (re)queued, exactly as first sealed, and goes out with the
  rest of the outbox (``resent``);
* withheld since (its consent was revoked): never sent again, and the center is told why (``withheld``);
* evicted, refused by the broker, past retention, never spooled: ``lost``, with the reason;
* over this device's resend rate (``RATE_SEGMENTS`` per ``RATE_WINDOW_S``): ``deferred``, the center asks later.

A request must carry the enrolled center's signature, name this device, be fresh and not be seen before (its
nonce; a replay inside its lifetime of at most an hour would only requeue the same bytes). Both the request and
the answer are written to the audit log.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_agent.consent.resend import ResendAnswer, ResendRequest, parse_resend, sign_resend_answer
from edge_agent.core.audit import AuditLog
from edge_agent.errors import ConsentError, OpenError
from edge_agent.outbox.spool import Outbox
from edge_agent.seal.signed import verify_document

log = logging.getLogger(__name__)

RATE_SEGMENTS = 256
RATE_WINDOW_S = 600.0
CLOCK_SKEW_S = 300.0
NOT_KEPT = "not kept on the device (older than its retention, or it stopped before the segment was spooled)"


class Resender:
    def __init__(
        self,
        outbox: Outbox,
        audit: AuditLog,
        *,
        device_id: str,
        signing_key: Ed25519PrivateKey,
        center_key: Ed25519PublicKey,
        next_seq: Callable[[], int],
        publish_answer: Callable[[bytes], None],
        notify: Callable[[], None],
    ) -> None:
        self._outbox = outbox
        self._audit = audit
        self._device_id = device_id
        self._signing_key = signing_key
        self._center_key = center_key
        self._next_seq = next_seq
        self._publish_answer = publish_answer
        self._notify = notify
        self._seen: dict[str, float] = {}  # nonce -> the request's expiry
        self._sent: deque[tuple[float, int]] = deque()  # (time, count) of recent resends, for the rate

    def receive(self, payload: bytes, now: float | None = None) -> ResendAnswer:
        """Check a resend request and answer it (published, audited). ConsentError for one that is refused."""
        now = time.time() if now is None else now
        try:
            request = self._check(payload, now)
        except ConsentError as exc:
            self._audit.note("resend_rejected", problem=str(exc)[:200])
            raise
        self._audit.append("resend_requested", request_id=request.id, seqs=list(request.seqs))
        answer = self.answer(request, now)
        self._publish_answer(sign_resend_answer(answer, self._signing_key))
        self._audit.append("resend_answered", request_id=request.id, resent=list(answer.resent),
                           withheld=[s for s, _ in answer.withheld], lost=[s for s, _ in answer.lost],
                           deferred=list(answer.deferred))
        if answer.resent:
            self._notify()
        log.info("resend request %s: %d resent, %d withheld, %d lost, %d deferred", request.id, len(answer.resent),
                 len(answer.withheld), len(answer.lost), len(answer.deferred))
        return answer

    def _check(self, payload: bytes, now: float) -> ResendRequest:
        try:
            doc = verify_document(payload, self._center_key)
        except OpenError:
            raise ConsentError("resend request signature does not verify against the enrolled center key") from None
        request = parse_resend(doc)
        if request.device_id != self._device_id:
            raise ConsentError(f"resend request {request.id} names another device")
        if now >= request.expires_at or request.issued_at > now + CLOCK_SKEW_S:
            raise ConsentError(f"resend request {request.id} is stale or from the future")
        self._seen = {nonce: expiry for nonce, expiry in self._seen.items() if expiry > now}
        if request.nonce in self._seen:
            raise ConsentError(f"resend request {request.id} is a replay: its nonce was seen before")
        self._seen[request.nonce] = request.expires_at
        return request

    def answer(self, request: ResendRequest, now: float) -> ResendAnswer:
        """What becomes of each asked sequence number (the kept ones are queued again)."""
        resent: list[int] = []
        withheld: list[tuple[int, str]] = []
        lost: list[tuple[int, str]] = []
        deferred: list[int] = []
        allowance = self._allowance(now)
        for seq in request.seqs:
            if self._outbox.waiting(seq):
                resent.append(seq)  # on its way already
                continue
            fate = self._outbox.archive.fate(seq)
            if fate is None:
                lost.append((seq, "never shared: beyond the end of the device's chain" if seq >= self._next_seq()
                             else NOT_KEPT))
            elif fate[0] == "withheld":
                withheld.append((seq, fate[1]))
            elif fate[0] == "lost":
                lost.append((seq, fate[1]))
            elif allowance <= 0:
                deferred.append(seq)
            elif self._outbox.requeue(seq):
                resent.append(seq)
                allowance -= 1
            else:
                lost.append((seq, NOT_KEPT))
        count = len(resent)
        if count:
            self._sent.append((now, count))
        return ResendAnswer(self._device_id, request.id, round(now, 3), tuple(resent), tuple(withheld),
                            tuple(lost), tuple(deferred))

    def _allowance(self, now: float) -> int:
        while self._sent and self._sent[0][0] < now - RATE_WINDOW_S:
            self._sent.popleft()
        return RATE_SEGMENTS - sum(count for _, count in self._sent)
