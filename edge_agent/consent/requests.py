"""Police requests: the signed request document the crime center sends.

A request is a signed document (``type: "request"``) from the crime center: one device, one bounded window, a
case, a reason, a fresh nonce, and an expiry. The device's inbox (:mod:`edge_agent.consent.inbox`) checks it and
keeps it until the homeowner answers.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.consent.documents import REQUEST_ID, text, time_field, typed
from edge_agent.errors import ConsentError
from edge_agent.seal.signed import sign_document

REQUEST_PREFIX = "r-"
MAX_REQUEST_TTL_S = 7 * 24 * 3600.0  # a request that claims to stay valid longer is refused
CLOCK_SKEW_S = 300.0
_NONCE = re.compile(r"^[0-9a-f]{32}$")

REQUEST_KEYS = ("type", "id", "device_id", "center_id", "start", "end", "case_id", "reason", "legal_basis", "nonce",
                "issued_at", "expires_at")


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


def parse_request(doc: dict[str, Any]) -> PoliceRequest:
    """Field checks of a verified request document. ConsentError names the first bad field."""
    where = "request"
    typed(doc, "request", where, REQUEST_KEYS)
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
    if not REQUEST_ID.fullmatch(request.id) or not _NONCE.fullmatch(request.nonce):
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
