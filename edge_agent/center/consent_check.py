"""The center's own consent check: a segment is evidence only if a valid record or approved request covers it.

What the center learns is kept on disk, so every worker of a shared subscription sees the same facts and a
restart forgets nothing (stateless per message)::

    consent/<device>/<record-id>.json    signed consent records (device key), as received
    answers/<device>/<request-id>.json   signed answers to police requests (device key)
    answers.jsonl                        every answer received, one line each
    requests/<device>/<request-id>.json  requests this center signed and sent
    loghead/<device>.jsonl               signed audit log heads, as received
    pending/<device>/<seq>-<tag>.sealed  segments whose record or answer has not arrived yet

MQTT orders messages per topic, not across topics, so a segment can arrive before the consent record or the
answer it names. Such a segment is held in ``pending/`` and checked again when a record or answer for its device
arrives; it is never stored as evidence until then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.center.keys import DeviceRegistry
from edge_agent.consent.requests import REQUEST_PREFIX
from edge_agent.consent.state import LIVE_PREFIX, ConsentRecord, record_from_dict
from edge_agent.core.files import append_line, atomic_write, pid_alive
from edge_agent.errors import EdgeAgentError, OpenError
from edge_agent.seal.signed import verify_document
from edge_agent.transport.topics import ANSWERS, CONSENT, LOGHEAD, Topics, check_device_id, device_filter, parse_topic

log = logging.getLogger(__name__)

PENDING = "pending"
_RECORD_ID = re.compile(r"^c-[0-9a-f]{16}$")
_REQUEST_ID = re.compile(r"^r-[0-9a-f]{16}$")


def _read_doc(path: Path) -> dict[str, Any] | None:
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

    # -- learning ----------------------------------------------------------------------------------------------

    def learn(self, device_id: str, kind: str, payload: bytes) -> bool:
        """Verify and keep a consent record, an answer or a log head. True when it was new."""
        key = self._registry(device_id)
        if key is None:
            log.warning("%s message from a device that is not enrolled: %s", kind, device_id)
            return False
        doc = _verified(payload, key, kind)
        if doc is None or doc.get("device_id") != device_id:
            log.warning("%s message from %s rejected: bad signature, type or device id", kind, device_id)
            return False
        if kind == CONSENT:
            return self._learn_record(device_id, doc, payload)
        if kind == ANSWERS:
            return self._learn_answer(device_id, doc, payload)
        append_line(self.root / "loghead" / f"{device_id}.jsonl", payload.decode("utf-8"))
        return True

    def _learn_record(self, device_id: str, doc: dict[str, Any], payload: bytes) -> bool:
        try:
            record = record_from_dict(doc, f"consent message from {device_id}")
        except EdgeAgentError as exc:
            log.warning("%s", exc)
            return False
        if record.id == "default-off":
            return False  # a device that never had a consent record: nothing to learn
        if not _RECORD_ID.fullmatch(record.id):
            log.warning("consent record with a malformed id from %s", device_id)
            return False
        return _keep(self.root / "consent" / device_id / f"{record.id}.json", payload)

    def _learn_answer(self, device_id: str, doc: dict[str, Any], payload: bytes) -> bool:
        request_id = str(doc.get("request_id", ""))
        if not _REQUEST_ID.fullmatch(request_id):
            return False
        if _read_doc(self.root / "requests" / device_id / f"{request_id}.json") is None:
            log.warning("answer from %s to request %s, which this center never sent", device_id, request_id)
            return False
        new = _keep(self.root / "answers" / device_id / f"{request_id}.json", payload)
        if new:
            line = {"received_at": round(time.time(), 3), "device_id": device_id, "request_id": request_id,
                    "case_id": doc.get("case_id"), "decision": doc.get("decision"), "reason": doc.get("reason"),
                    "segments": len(doc.get("segments") or [])}
            append_line(self.root / "answers.jsonl", json.dumps(line, sort_keys=True))
            log.info("answer from %s to request %s: %s", device_id, request_id, doc.get("decision"))
        return new

    # -- checking ----------------------------------------------------------------------------------------------

    def check(self, device_id: str, consent_id: str, start: float, end: float) -> str:
        """Empty when covered, :data:`PENDING` when the record or answer may still be on its way, else the reason
        the segment is not evidence."""
        if consent_id.startswith(REQUEST_PREFIX) and _REQUEST_ID.fullmatch(consent_id):
            return self._check_request(device_id, consent_id, start, end)
        if consent_id.startswith(LIVE_PREFIX) and _RECORD_ID.fullmatch(consent_id):
            return self._check_record(device_id, consent_id, start, end)
        return "consent id names no consent record or request"

    def _records(self, device_id: str) -> dict[str, ConsentRecord]:
        out = {}
        for path in (self.root / "consent" / device_id).glob("c-*.json"):
            doc = _read_doc(path)
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

    def _check_request(self, device_id: str, request_id: str, start: float, end: float) -> str:
        request = _read_doc(self.root / "requests" / device_id / f"{request_id}.json")
        if request is None:
            return "segment names a request this center never sent"
        answer = _read_doc(self.root / "answers" / device_id / f"{request_id}.json")
        if answer is None:
            return PENDING
        if answer.get("decision") != "approved":
            return "request was not approved"
        if start < float(request["start"]) or end > float(request["end"]):
            return "segment lies outside the approved request's window"
        return ""

    # -- segments waiting for their record -----------------------------------------------------------------

    def hold(self, device_id: str, seq: int, payload: bytes) -> Path:
        tag = hashlib.sha256(payload).hexdigest()[:12]
        path = self.root / "pending" / check_device_id(device_id) / f"{seq:010d}-{tag}.sealed"
        atomic_write(path, payload)
        return path

    def recheck(
        self, device_id: str, ingest: Callable[[bytes], object], sync: Callable[[], None] = lambda: None
    ) -> int:
        """Feed every held segment of ``device_id`` through ``ingest`` again (which may hold it again).

        A held segment is claimed by renaming it to ``.claimed-<pid>``, and its held copy is deleted only after
        ``sync`` made the re-ingest durable, so a crash in between loses nothing: a claim whose worker is gone
        is taken up again by the next recheck."""
        folder = self.root / "pending" / check_device_id(device_id)
        count = 0
        for path in _held(folder):
            claimed = path.with_name(f"{path.name.split('.')[0]}.sealed.claimed-{os.getpid()}")
            try:
                path.rename(claimed)
                payload = claimed.read_bytes()
            except FileNotFoundError:
                continue  # another worker took it
            ingest(payload)
            sync()
            claimed.unlink(missing_ok=True)
            count += 1
        return count

    def pending_count(self) -> int:
        folder = self.root / "pending"
        return sum(1 for _ in folder.glob("*/*.sealed")) if folder.is_dir() else 0


def _held(folder: Path) -> list[Path]:
    """Held segments, and claims left by a worker that died before it finished with them."""
    if not folder.is_dir():
        return []
    found = list(folder.glob("*.sealed"))
    for claim in folder.glob("*.sealed.claimed-*"):
        pid = claim.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            found.append(claim)
    return sorted(found)


def _verified(payload: bytes, key: Ed25519PublicKey, kind: str) -> dict[str, Any] | None:
    expected = {CONSENT: "consent", ANSWERS: "answer", LOGHEAD: "loghead"}.get(kind)
    try:
        doc = verify_document(payload, key)
    except OpenError:
        return None
    return doc if expected is not None and doc.get("type") == expected else None


def _keep(path: Path, payload: bytes) -> bool:
    if path.exists():
        return False
    try:
        atomic_write(path, payload, exclusive=True)
    except FileExistsError:
        return False
    return True


CONTROL_KINDS = (CONSENT, ANSWERS, LOGHEAD)


def control_filters(prefix: str) -> list[str]:
    """Every worker subscribes to these itself (never as a shared group): each needs every record."""
    return [device_filter(prefix, kind) for kind in CONTROL_KINDS]


def handle_control(
    book: ConsentBook | None,
    prefix: str,
    topic: str,
    payload: bytes,
    ingest: Callable[[str, bytes], object],
    *,
    sync: Callable[[], None] = lambda: None,
) -> bool:
    """Take a consent record, answer or log head; re-check held segments of that device when a record or
    answer was new. False when ``topic`` is not a control topic (the caller ingests it as a segment)."""
    try:
        device_id, kind = parse_topic(prefix, topic)
    except EdgeAgentError:
        return False
    if kind not in CONTROL_KINDS:
        return False
    if book is None:
        return True
    if book.learn(device_id, kind, payload) and kind != LOGHEAD:
        segments_topic = Topics(prefix, device_id).segments
        book.recheck(device_id, lambda data: ingest(segments_topic, data), sync)
    return True
