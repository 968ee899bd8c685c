"""The center's own consent check: a segment is evidence only if a valid record or approved request covers it.

What the center learns is kept on disk, so every worker of a shared subscription sees the same facts and a
restart forgets nothing (stateless per message)::

    consent/<device>/<record-id>.json    signed consent records (device key), as received
    answers/<device>/<request-id>.json   signed answers to police requests (device key)
    answers.jsonl                        every answer received, one line each
    requests/<device>/<request-id>.json  requests this center signed and sent
    loghead/<device>.jsonl               signed audit log heads, as received, never going backwards
    loghead/<device>.json                the newest of them

Every document is checked field by field (:mod:`edge_agent.consent.documents`) before it is kept: a compromised
device signs whatever it likes with its real key. :meth:`ConsentBook.learn` says what became of each one.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.center.files import DIR_MODE, append_bounded, append_private, write_private
from edge_agent.center.keys import DeviceRegistry
from edge_agent.consent.documents import Answer, LogHeadDoc, parse_answer, parse_loghead
from edge_agent.consent.requests import REQUEST_PREFIX
from edge_agent.consent.state import LIVE_PREFIX, ConsentRecord, record_from_dict
from edge_agent.core.files import make_dirs
from edge_agent.errors import ConsentError, OpenError
from edge_agent.seal.signed import verify_document
from edge_agent.transport.topics import ANSWERS, CONSENT, LOGHEAD

log = logging.getLogger(__name__)

PENDING = "pending"
_RECORD_ID = re.compile(r"^c-[0-9a-f]{16}$")
_REQUEST_ID = re.compile(r"^r-[0-9a-f]{16}$")
_EXPECTED_TYPE = {CONSENT: "consent", ANSWERS: "answer", LOGHEAD: "loghead"}


@dataclass(frozen=True, slots=True)
class Learned:
    """What became of one consent record, answer or log head."""

    status: Literal["new", "duplicate", "refused"]
    reason: str = ""
    doc_id: str = ""  # the record or request id whose held segments are now due for a recheck


@dataclass(frozen=True, slots=True)
class Claim:
    """What a segment's signed header claims about the consent it was shared under."""

    device_id: str
    consent_id: str
    start: float
    end: float
    seq: int = 0
    header_hash: str = ""


def read_doc(path: Path) -> dict[str, Any] | None:
    """The document inside a signed file this center kept (already verified when it was kept)."""
    try:
        wire = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    doc = wire.get("doc") if isinstance(wire, dict) else None
    return doc if isinstance(doc, dict) else None


class ConsentBook:
    def __init__(self, root: Path, registry: DeviceRegistry) -> None:
        self.root = root
        self._registry = registry
        self._answers: dict[tuple[str, str], Answer] = {}  # kept answers never change: parsed once

    # -- learning ----------------------------------------------------------------------------------------------

    def learn(self, device_id: str, kind: str, payload: bytes, *, durable: bool = True) -> Learned:
        """Verify, check and keep a consent record, an answer or a log head."""
        key = self._registry(device_id)
        if key is None:
            return Learned("refused", f"{kind} message from a device that is not enrolled")
        doc = _verified(payload, key, kind)
        if doc is None:
            return Learned("refused", f"{kind} message: bad signature or not a {_EXPECTED_TYPE.get(kind)} document")
        if doc.get("device_id") != device_id:
            return Learned("refused", f"{kind} message names another device")
        try:
            if kind == CONSENT:
                return self._learn_record(device_id, doc, payload, durable)
            if kind == ANSWERS:
                return self._learn_answer(device_id, parse_answer(doc), payload, durable)
            return self._learn_head(device_id, parse_loghead(doc), payload, durable)
        except ConsentError as exc:
            return Learned("refused", str(exc)[:300])

    def _learn_record(self, device_id: str, doc: dict[str, Any], payload: bytes, durable: bool) -> Learned:
        record = record_from_dict(doc, f"consent message from {device_id}")
        if record.id == "default-off":
            return Learned("duplicate", "a device that never had consent: nothing to learn")
        if not _RECORD_ID.fullmatch(record.id):
            return Learned("refused", "consent record with a malformed id")
        new = _keep(self.root / "consent" / device_id / f"{record.id}.json", payload, durable)
        return Learned("new", doc_id=record.id) if new else Learned("duplicate")

    def _learn_answer(self, device_id: str, answer: Answer, payload: bytes, durable: bool) -> Learned:
        request = read_doc(self.root / "requests" / device_id / f"{answer.request_id}.json")
        if request is None:
            return Learned("refused", f"answer to request {answer.request_id}, which this center never sent")
        if answer.case_id != request.get("case_id"):
            return Learned("refused", f"answer to request {answer.request_id} names another case")
        if not _keep(self.root / "answers" / device_id / f"{answer.request_id}.json", payload, durable):
            return Learned("duplicate")
        line = {"received_at": round(time.time(), 3), "device_id": device_id, "request_id": answer.request_id,
                "case_id": answer.case_id, "decision": answer.decision, "reason": answer.reason,
                "segments": len(answer.segments), "seqs": [s.seq for s in answer.segments]}
        append_private(self.root / "answers.jsonl", json.dumps(line, sort_keys=True), durable=durable)
        log.info("answer from %s to request %s: %s", device_id, answer.request_id, answer.decision)
        return Learned("new", doc_id=answer.request_id)

    def _learn_head(self, device_id: str, head: LogHeadDoc, payload: bytes, durable: bool) -> Learned:
        folder = self.root / "loghead"
        make_dirs(folder, DIR_MODE)
        # Every worker of a shared subscription receives each head: one at a time decides whether it is new.
        fd = os.open(folder / f"{device_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            latest = self.latest_head(device_id)
            if latest is not None:
                if head.count < latest.count:
                    return Learned("refused", f"log head goes backwards ({head.count} entries after {latest.count})")
                if head.count == latest.count:
                    if head.last_hash != latest.last_hash:
                        return Learned("refused", "log head conflicts with an earlier one of the same length")
                    return Learned("duplicate")
            append_bounded(folder / f"{device_id}.jsonl", payload.decode("utf-8"), durable=durable)
            write_private(folder / f"{device_id}.json", payload, durable=durable)
        finally:
            os.close(fd)
        return Learned("new")

    def latest_head(self, device_id: str) -> LogHeadDoc | None:
        doc = read_doc(self.root / "loghead" / f"{device_id}.json")
        try:
            return None if doc is None else parse_loghead(doc)
        except ConsentError:
            return None

    # -- checking ----------------------------------------------------------------------------------------------

    def check(self, claim: Claim) -> str:
        """Empty when covered, :data:`PENDING` when the record or answer may still be on its way, else the reason
        the segment is not evidence."""
        if claim.consent_id.startswith(REQUEST_PREFIX) and _REQUEST_ID.fullmatch(claim.consent_id):
            return self._check_request(claim)
        if claim.consent_id.startswith(LIVE_PREFIX) and _RECORD_ID.fullmatch(claim.consent_id):
            return self._check_record(claim.device_id, claim.consent_id, claim.start, claim.end)
        return "consent id names no consent record or request"

    def _records(self, device_id: str) -> dict[str, ConsentRecord]:
        out = {}
        for path in (self.root / "consent" / device_id).glob("c-*.json"):
            doc = read_doc(path)
            if doc is not None:
                out[path.stem] = record_from_dict(doc, path)
        return out

    def _check_record(self, device_id: str, consent_id: str, start: float, end: float) -> str:
        records = self._records(device_id)
        record = records.get(consent_id)
        if record is None:
            return PENDING
        if record.mode != "live":
            return "consent record is not a live grant"
        # Any later record (a revocation, a new grant) ends this one from the moment it starts.
        later = [r.starts_at for r in records.values() if r.issued_at > record.issued_at]
        ends = [t for t in (record.expires_at, *later) if t is not None]
        bounded = dataclasses.replace(record, expires_at=min(ends) if ends else None)
        if bounded.covers(start, end):
            return ""
        if later and end > min(later):
            return "consent was revoked or replaced before the segment ended"
        return "consent record does not cover the segment's time"

    def answer(self, device_id: str, request_id: str) -> Answer | None:
        cached = self._answers.get((device_id, request_id))
        if cached is not None:
            return cached
        doc = read_doc(self.root / "answers" / device_id / f"{request_id}.json")
        if doc is None:
            return None
        answer = parse_answer(doc)
        self._answers[(device_id, request_id)] = answer
        return answer

    def _check_request(self, claim: Claim) -> str:
        request = read_doc(self.root / "requests" / claim.device_id / f"{claim.consent_id}.json")
        if request is None:
            return "segment names a request this center never sent"
        answer = self.answer(claim.device_id, claim.consent_id)
        if answer is None:
            return PENDING
        if answer.decision != "approved":
            return f"request was not approved ({answer.decision})"
        if not claim.start < float(request["end"]) or not claim.end > float(request["start"]):
            return "segment does not overlap the approved request's window"
        if not any(s.seq == claim.seq and s.header_hash == claim.header_hash for s in answer.segments):
            return "segment is not among those the approval lists"
        return ""


def _verified(payload: bytes, key: Ed25519PublicKey, kind: str) -> dict[str, Any] | None:
    try:
        doc = verify_document(payload, key)
    except OpenError:
        return None
    return doc if doc.get("type") == _EXPECTED_TYPE.get(kind) else None


def _keep(path: Path, payload: bytes, durable: bool) -> bool:
    if path.exists():
        return False
    try:
        write_private(path, payload, exclusive=True, durable=durable)
    except FileExistsError:
        return False
    return True
