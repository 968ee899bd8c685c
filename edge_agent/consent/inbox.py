"""The homeowner's request inbox: every police request the device receives, and what became of it.

A request message is first checked for authenticity: the enrolled center's signature, well-formed fields, this
device's id. One that fails is refused without an answer (it cannot be told from noise, and nobody to answer).
An authentic request then gets an answer whatever happens: the homeowner approves or denies it, it expires, the
device refuses it at once for a reason of its own (over the profile's window cap, consent off, stale, footage that
does not exist yet), or, once approved, a revocation withdraws it before it was delivered. Each answer is a signed
document the request worker publishes; the answer as published is kept (``<id>.answer``), so that the same
request received again (a broker that redelivers, a center that sends it again to a device that was offline) is
answered again with the same bytes. A different request reusing a nonce is a replay and refused.

Entries live in ``<data-dir>/requests/<id>.json``; every step is written to the audit log.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.consent.documents import REQUEST_ID
from edge_agent.consent.requests import CLOCK_SKEW_S, MAX_REQUEST_TTL_S, PoliceRequest, parse_request
from edge_agent.core.audit import AuditLog
from edge_agent.core.files import append_line, atomic_write
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConsentError, OpenError
from edge_agent.seal.signed import verify_document

State = Literal["pending", "approved", "denied", "expired", "refused", "withdrawn"]
WITHDRAWN = "consent was revoked before the footage was delivered"


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One request in the homeowner's inbox and what became of it."""

    request: PoliceRequest
    state: State
    received_at: float
    answered_at: float | None = None
    answer_reason: str = ""
    published: bool = False  # the signed answer has been handed to the broker
    segments: tuple[int, ...] = ()  # sequence numbers published for an approval

    @property
    def id(self) -> str:
        return self.request.id

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["segments"] = list(self.segments)
        return doc


def _entry_from_dict(data: dict[str, Any]) -> InboxEntry:
    request = parse_request({"type": "request", **data["request"]})
    return InboxEntry(
        request=request,
        state=data["state"],
        received_at=float(data["received_at"]),
        answered_at=None if data.get("answered_at") is None else float(data["answered_at"]),
        answer_reason=str(data.get("answer_reason", "")),
        published=bool(data.get("published", False)),
        segments=tuple(int(s) for s in data.get("segments", ())),
    )


def refusal(request: PoliceRequest, *, max_window_hours: float, mode: str, now: float) -> str:
    """Why the device refuses an authentic request at once, or ``""`` when it goes to the homeowner."""
    if now >= request.expires_at:
        return f"request {request.id} is stale: it expired before it arrived"
    if request.issued_at > now + CLOCK_SKEW_S or request.expires_at - request.issued_at > MAX_REQUEST_TTL_S:
        return f"request {request.id} has implausible issue or expiry times"
    hours = (request.end - request.start) / 3600.0
    if hours > max_window_hours + 1e-9:
        return f"request {request.id} asks for {hours:.2f} h, over this profile's cap of {max_window_hours:g} h"
    if request.start > now + CLOCK_SKEW_S:
        return f"request {request.id} asks for footage that does not exist yet"
    if mode == "off":
        return f"request {request.id} refused: consent is off, the device takes no requests"
    return ""


class Inbox:
    """The homeowner's request inbox in ``<data-dir>/requests``."""

    def __init__(self, paths: DevicePaths) -> None:
        self.folder = paths.root / "requests"
        self.audit = AuditLog(paths.audit)

    def _path(self, request_id: str, suffix: str = ".json") -> Path:
        if not REQUEST_ID.fullmatch(request_id):
            raise ConsentError(f"no request {request_id!r}: ids look like r-0123456789abcdef")
        return self.folder / f"{request_id}{suffix}"

    def _save(self, entry: InboxEntry) -> InboxEntry:
        data = json.dumps(entry.to_dict(), indent=2, sort_keys=True).encode("utf-8")
        atomic_write(self._path(entry.id), data, mode=0o600)
        return entry

    def get(self, request_id: str) -> InboxEntry:
        path = self._path(request_id)
        try:
            return _entry_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ConsentError(f"no request {request_id!r} in {self.folder}") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConsentError(f"{path}: request entry is malformed: {exc}") from exc

    def entries(self) -> list[InboxEntry]:
        if not self.folder.is_dir():
            return []
        found = [self.get(p.stem) for p in self.folder.glob("r-*.json")]
        return sorted(found, key=lambda e: e.received_at)

    def _nonce_used(self, nonce: str) -> bool:
        seen = self.folder / "seen.jsonl"
        if not seen.exists():
            return False
        for line in seen.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and item.get("nonce") == nonce:
                return True
        return False

    def receive(
        self, payload: bytes, *, center_key: Ed25519PublicKey, device_id: str, max_window_hours: float,
        mode: str, now: float | None = None,
    ) -> InboxEntry:
        """Check a request message and put it in the inbox: pending for the homeowner, or refused at once (the
        entry then carries the reason, and the worker answers it). ConsentError, after it is logged, for a message
        that is not an authentic request for this device, or a replay."""
        now = time.time() if now is None else now
        try:
            request = self._authentic(payload, center_key, device_id)
            known = self._known(request)
            if known is not None:
                return known
            if self._nonce_used(request.nonce):
                raise ConsentError(f"request {request.id} is a replay: its nonce was seen before")
        except ConsentError as exc:
            self.audit.append("request_rejected", problem=str(exc)[:200])
            raise
        self.folder.mkdir(parents=True, exist_ok=True)
        append_line(self.folder / "seen.jsonl", json.dumps({"nonce": request.nonce, "id": request.id,
                                                           "expires_at": request.expires_at}))
        self.audit.append("request_received", request_id=request.id, case_id=request.case_id,
                          start=request.start, end=request.end, expires_at=request.expires_at)
        reason = refusal(request, max_window_hours=max_window_hours, mode=mode, now=now)
        if reason:
            self.audit.append("request_rejected", request_id=request.id, problem=reason[:200])
            return self._save(InboxEntry(request, "refused", round(now, 3), round(now, 3), reason))
        return self._save(InboxEntry(request, "pending", round(now, 3)))

    @staticmethod
    def _authentic(payload: bytes, center_key: Ed25519PublicKey, device_id: str) -> PoliceRequest:
        try:
            doc = verify_document(payload, center_key)
        except OpenError:
            raise ConsentError("request signature does not verify against the enrolled center key") from None
        request = parse_request(doc)
        if request.device_id != device_id:
            raise ConsentError(f"request {request.id} names another device")
        return request

    def _known(self, request: PoliceRequest) -> InboxEntry | None:
        """The same request received again: answered again (the same answer) once it has one."""
        try:
            entry = self.get(request.id)
        except ConsentError:
            return None
        if entry.request.nonce != request.nonce:
            raise ConsentError(f"request {request.id} is a replay with another nonce")
        self.audit.append("request_repeated", request_id=request.id, state=entry.state)
        if entry.published:
            entry = self._save(replace(entry, published=False))
        return entry

    def decide(self, request_id: str, state: State, reason: str = "", now: float | None = None) -> InboxEntry:
        """Approve or deny a pending request. The running agent publishes the answer (and, for an approval, the
        segments of the window from retention)."""
        now = time.time() if now is None else now
        entry = self.expire_if_due(self.get(request_id), now)
        if entry.state != "pending":
            raise ConsentError(f"request {request_id} is already {entry.state}")
        entry = self._save(replace(entry, state=state, answered_at=round(now, 3), answer_reason=reason))
        self.audit.append("request_answered", request_id=request_id, case_id=entry.request.case_id,
                          decision=state, reason=reason[:200])
        return entry

    def withdraw_undelivered(self, now: float | None = None) -> list[InboxEntry]:
        """Consent was revoked: every approval not delivered yet is withdrawn (and answered so)."""
        now = time.time() if now is None else now
        withdrawn = []
        for entry in self.entries():
            if entry.state == "approved" and not entry.published and not self.answer_path(entry.id).exists():
                withdrawn.append(self._save(replace(entry, state="withdrawn", answered_at=round(now, 3),
                                                    answer_reason=WITHDRAWN)))
                self.audit.append("request_withdrawn", request_id=entry.id, case_id=entry.request.case_id)
        return withdrawn

    def expire_if_due(self, entry: InboxEntry, now: float) -> InboxEntry:
        if entry.state != "pending" or now < entry.request.expires_at:
            return entry
        entry = self._save(replace(entry, state="expired", answered_at=round(now, 3)))
        self.audit.append("request_answered", request_id=entry.id, case_id=entry.request.case_id,
                          decision="expired", reason="")
        return entry

    def expire_due(self, now: float | None = None) -> list[InboxEntry]:
        now = time.time() if now is None else now
        return [e for e in (self.expire_if_due(e, now) for e in self.entries()) if e.state == "expired"]

    def answer_path(self, request_id: str) -> Path:
        """Where the signed answer is kept as published."""
        return self._path(request_id, ".answer")

    def mark_published(self, entry: InboxEntry, signed: bytes, segments: tuple[int, ...] = ()) -> InboxEntry:
        """The answer ``signed`` was handed to the broker: kept, so that a repeated request gets the same bytes."""
        atomic_write(self.answer_path(entry.id), signed, mode=0o600)
        return self._save(replace(self.get(entry.id), published=True, segments=segments or entry.segments))


def answer_document(entry: InboxEntry, device_id: str, segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The signed answer: the decision, the window and case it concerns, and (for an approval) exactly the
    segments sent for it, so both sides see what was delivered."""
    return {
        "type": "answer",
        "device_id": device_id,
        "request_id": entry.id,
        "case_id": entry.request.case_id,
        "decision": entry.state,
        "reason": entry.answer_reason,
        "start": entry.request.start,
        "end": entry.request.end,
        "answered_at": entry.answered_at,
        "segments": segments,
    }
