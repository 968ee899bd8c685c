"""Police requests: the signed request document, the device's checks, and the homeowner's inbox.

A request is a signed document (``type: "request"``) from the crime center. The device accepts it only if the
signature verifies against the center key it was enrolled with, it names this device, it is fresh (not expired,
not issued in the future, its nonce never seen before) and its window is bounded by the profile. Accepted
requests wait in ``<data-dir>/requests/<id>.json`` until the homeowner approves or denies them, or they expire.
Every rejection and every answer is written to the audit log.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_agent.consent.documents import check_keys, text, time_field
from edge_agent.core.audit import AuditLog
from edge_agent.core.files import append_line, atomic_write
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConsentError, OpenError
from edge_agent.seal.signed import sign_document, verify_document

REQUEST_PREFIX = "r-"
MAX_REQUEST_TTL_S = 7 * 24 * 3600.0  # a request that claims to stay valid longer is refused
CLOCK_SKEW_S = 300.0
_ID = re.compile(r"^r-[0-9a-f]{16}$")
_NONCE = re.compile(r"^[0-9a-f]{32}$")

REQUEST_KEYS = ("type", "id", "device_id", "center_id", "start", "end", "case_id", "reason", "legal_basis", "nonce",
                "issued_at", "expires_at")

State = Literal["pending", "approved", "denied", "expired"]


@dataclass(frozen=True, slots=True)
class PoliceRequest:
    id: str
    device_id: str
    center_id: str
    start: float
    end: float
    case_id: str
    reason: str
    legal_basis: str
    nonce: str
    issued_at: float
    expires_at: float

    def to_doc(self) -> dict[str, Any]:
        return {"type": "request", **asdict(self)}


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


def parse_request(doc: dict[str, Any]) -> PoliceRequest:
    """Field checks of a verified request document. ConsentError names the first bad field."""
    where = "request"
    check_keys(doc, where, REQUEST_KEYS)
    if doc.get("type") != "request":
        raise ConsentError("document is not a request")
    request = PoliceRequest(
        id=text(doc, "id", where, 64),
        device_id=text(doc, "device_id", where, 64),
        center_id=text(doc, "center_id", where, 64),
        start=time_field(doc, "start", where),
        end=time_field(doc, "end", where),
        case_id=text(doc, "case_id", where, 128),
        reason=text(doc, "reason", where, 1000),
        legal_basis=text(doc, "legal_basis", where, 500, required=False),
        nonce=text(doc, "nonce", where, 64),
        issued_at=time_field(doc, "issued_at", where),
        expires_at=time_field(doc, "expires_at", where),
    )
    if not _ID.fullmatch(request.id) or not _NONCE.fullmatch(request.nonce):
        raise ConsentError("request id or nonce is malformed")
    if request.end <= request.start:
        raise ConsentError("request window ends before it starts")
    return request


def make_request(
    key: Ed25519PrivateKey,
    *,
    device_id: str,
    center_id: str,
    start: float,
    end: float,
    case_id: str,
    reason: str,
    legal_basis: str = "",
    ttl_s: float = 24 * 3600.0,
    now: float | None = None,
) -> tuple[PoliceRequest, bytes]:
    """A new request with a fresh id and nonce, signed by the center's key: ``(request, wire bytes)``."""
    now = time.time() if now is None else now
    request = PoliceRequest(
        id=REQUEST_PREFIX + secrets.token_hex(8),
        device_id=device_id,
        center_id=center_id,
        start=float(start),
        end=float(end),
        case_id=case_id,
        reason=reason,
        legal_basis=legal_basis,
        nonce=secrets.token_hex(16),
        issued_at=round(now, 3),
        expires_at=round(now + ttl_s, 3),
    )
    parse_request(request.to_doc())  # the center holds itself to the device's rules
    return request, sign_document(request.to_doc(), key)


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


class Inbox:
    """The homeowner's request inbox in ``<data-dir>/requests``."""

    def __init__(self, paths: DevicePaths) -> None:
        self.folder = paths.root / "requests"
        self.audit = AuditLog(paths.audit)

    def _path(self, request_id: str) -> Path:
        if not _ID.fullmatch(request_id):
            raise ConsentError(f"no request {request_id!r}: ids look like r-0123456789abcdef")
        return self.folder / f"{request_id}.json"

    def _save(self, entry: InboxEntry) -> None:
        data = json.dumps(entry.to_dict(), indent=2, sort_keys=True).encode("utf-8")
        atomic_write(self._path(entry.id), data, mode=0o600)

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

    def _seen(self, nonce: str, request_id: str) -> bool:
        seen = self.folder / "seen.jsonl"
        if not seen.exists():
            return False
        for line in seen.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and (item.get("nonce") == nonce or item.get("id") == request_id):
                return True
        return False

    def receive(
        self, payload: bytes, *, center_key: Ed25519PublicKey, device_id: str, max_window_hours: float,
        mode: str, now: float | None = None,
    ) -> InboxEntry:
        """Check a request message and put it in the inbox. A refusal raises ConsentError after it is logged."""
        now = time.time() if now is None else now
        try:
            request = self._check(payload, center_key=center_key, device_id=device_id,
                                  max_window_hours=max_window_hours, mode=mode, now=now)
        except ConsentError as exc:
            self.audit.append("request_rejected", problem=str(exc)[:200])
            raise
        self.folder.mkdir(parents=True, exist_ok=True)
        append_line(self.folder / "seen.jsonl", json.dumps({"nonce": request.nonce, "id": request.id,
                                                           "expires_at": request.expires_at}))
        entry = InboxEntry(request, "pending", round(now, 3))
        self._save(entry)
        self.audit.append("request_received", request_id=request.id, case_id=request.case_id,
                          start=request.start, end=request.end, expires_at=request.expires_at)
        return entry

    def _check(
        self, payload: bytes, *, center_key: Ed25519PublicKey, device_id: str, max_window_hours: float, mode: str,
        now: float,
    ) -> PoliceRequest:
        try:
            doc = verify_document(payload, center_key)
        except OpenError:
            raise ConsentError("request signature does not verify against the enrolled center key") from None
        request = parse_request(doc)
        if request.device_id != device_id:
            raise ConsentError(f"request {request.id} names another device")
        if now >= request.expires_at:
            raise ConsentError(f"request {request.id} is stale: it expired before it arrived")
        if request.issued_at > now + CLOCK_SKEW_S or request.expires_at - request.issued_at > MAX_REQUEST_TTL_S:
            raise ConsentError(f"request {request.id} has implausible issue or expiry times")
        if self._seen(request.nonce, request.id):
            raise ConsentError(f"request {request.id} is a replay: its nonce was seen before")
        hours = (request.end - request.start) / 3600.0
        if hours > max_window_hours + 1e-9:
            raise ConsentError(
                f"request {request.id} asks for {hours:.2f} h, over this profile's cap of {max_window_hours:g} h"
            )
        if request.start > now + CLOCK_SKEW_S:
            raise ConsentError(f"request {request.id} asks for footage that does not exist yet")
        if mode == "off":
            raise ConsentError(f"request {request.id} refused: consent is off, the device takes no requests")
        return request

    def decide(self, request_id: str, state: State, reason: str = "", now: float | None = None) -> InboxEntry:
        """Approve or deny a pending request. The running agent publishes the answer (and, for an approval, the
        segments of the window from retention)."""
        now = time.time() if now is None else now
        entry = self.expire_if_due(self.get(request_id), now)
        if entry.state != "pending":
            raise ConsentError(f"request {request_id} is already {entry.state}")
        entry = replace(entry, state=state, answered_at=round(now, 3), answer_reason=reason)
        self._save(entry)
        self.audit.append("request_answered", request_id=request_id, case_id=entry.request.case_id,
                          decision=state, reason=reason[:200])
        return entry

    def expire_if_due(self, entry: InboxEntry, now: float) -> InboxEntry:
        if entry.state != "pending" or now < entry.request.expires_at:
            return entry
        entry = replace(entry, state="expired", answered_at=round(now, 3))
        self._save(entry)
        self.audit.append("request_answered", request_id=entry.id, case_id=entry.request.case_id,
                          decision="expired", reason="")
        return entry

    def expire_due(self, now: float | None = None) -> list[InboxEntry]:
        now = time.time() if now is None else now
        return [e for e in (self.expire_if_due(e, now) for e in self.entries()) if e.state == "expired"]

    def mark_published(self, entry: InboxEntry, segments: tuple[int, ...] = ()) -> InboxEntry:
        entry = replace(self.get(entry.id), published=True, segments=segments)
        self._save(entry)
        return entry


def answer_document(entry: InboxEntry, device_id: str, segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The signed answer: the decision, the window and case it concerns, and (for an approval) the segments
    that answer it, so the center can tell when it has all of them."""
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
