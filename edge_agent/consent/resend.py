"""Resend requests and their answers: how the center asks a device for segments of its chain that never arrived.

The center knows each device's chain (sequence numbers, previous-header hashes). When it sees a gap, or a device
says it shared further than the center holds, it signs a *resend request* for exactly the missing numbers and
sends it on the device's requests topic::

    {"type": "resend", "id": "s-<16 hex>", "device_id", "center_id", "seqs": [12, 13, 40], "nonce": "<32 hex>",
     "issued_at", "expires_at"}

The device answers from its encrypted retention of what it shared (the sealed segments exactly as first sent,
so their hashes and signatures still verify), and only what was shared under a consent record or an approved
request that still stands; it signs a *resend answer* on its answers topic::

    {"type": "resend-answer", "device_id", "request_id", "answered_at", "resent": [12],
     "withheld": [{"seq": 13, "reason": "..."}], "lost": [{"seq": 40, "reason": "..."}], "deferred": []}

``withheld``: shared once, but the consent it was shared under was revoked since (never resent). ``lost``: no
longer on the device (past retention, evicted at a cap, never spooled). ``deferred``: over the device's resend
rate; the center asks again later. Pure: no MQTT, no files.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.consent.documents import (
    MAX_SAFE_INT,
    check_keys,
    integer,
    items,
    matching,
    text,
    time_field,
    typed,
)
from edge_agent.errors import ConsentError
from edge_agent.seal.signed import sign_document

RESEND_PREFIX = "s-"
MAX_SEQS = 64
MAX_TTL_S = 3600.0
RESEND_ID = re.compile(r"^s-[0-9a-f]{16}$")
_NONCE = re.compile(r"^[0-9a-f]{32}$")
_REQUEST_KEYS = ("type", "id", "device_id", "center_id", "seqs", "nonce", "issued_at", "expires_at")
_ANSWER_KEYS = ("type", "device_id", "request_id", "answered_at", "resent", "withheld", "lost", "deferred")


@dataclass(frozen=True, slots=True)
class ResendRequest:
    id: str
    device_id: str
    center_id: str
    seqs: tuple[int, ...]
    nonce: str
    issued_at: float
    expires_at: float

    def to_doc(self) -> dict[str, Any]:
        return {"type": "resend", **asdict(self), "seqs": list(self.seqs)}


@dataclass(frozen=True, slots=True)
class ResendAnswer:
    device_id: str
    request_id: str
    answered_at: float
    resent: tuple[int, ...]
    withheld: tuple[tuple[int, str], ...]
    lost: tuple[tuple[int, str], ...]
    deferred: tuple[int, ...]

    def to_doc(self) -> dict[str, Any]:
        return {
            "type": "resend-answer",
            "device_id": self.device_id,
            "request_id": self.request_id,
            "answered_at": self.answered_at,
            "resent": list(self.resent),
            "withheld": [{"seq": seq, "reason": reason} for seq, reason in self.withheld],
            "lost": [{"seq": seq, "reason": reason} for seq, reason in self.lost],
            "deferred": list(self.deferred),
        }


def _seqs(doc: dict[str, Any], key: str, where: str, *, allow_empty: bool = True) -> tuple[int, ...]:
    raw = items(doc, key, where, MAX_SEQS)
    seqs = tuple(integer({key: v}, key, where, 0, MAX_SAFE_INT) for v in raw)
    if len(set(seqs)) != len(seqs) or (not seqs and not allow_empty):
        raise ConsentError(f"{where}: field {key!r}: expected distinct sequence numbers")
    return seqs


def parse_resend(doc: object) -> ResendRequest:
    """A verified resend request, field by field. ConsentError names the first bad field."""
    where = "resend request"
    doc = typed(doc, "resend", where, _REQUEST_KEYS)
    request = ResendRequest(
        id=matching(doc, "id", where, RESEND_ID),
        device_id=text(doc, "device_id", where, 64),
        center_id=text(doc, "center_id", where, 64),
        seqs=_seqs(doc, "seqs", where, allow_empty=False),
        nonce=matching(doc, "nonce", where, _NONCE),
        issued_at=time_field(doc, "issued_at", where),
        expires_at=time_field(doc, "expires_at", where),
    )
    if not 0 < request.expires_at - request.issued_at <= MAX_TTL_S + 1:
        raise ConsentError(f"{where}: expires before it is issued, or more than {MAX_TTL_S:g} s after")
    return request


def make_resend(
    key: Ed25519PrivateKey, *, device_id: str, center_id: str, seqs: list[int], ttl_s: float = 600.0,
    now: float | None = None,
) -> tuple[ResendRequest, bytes]:
    """A resend request for ``seqs`` (at most :data:`MAX_SEQS`), signed by the center: ``(request, wire bytes)``."""
    now = time.time() if now is None else now
    request = ResendRequest(
        id=RESEND_PREFIX + secrets.token_hex(8), device_id=device_id, center_id=center_id,
        seqs=tuple(sorted(set(seqs))), nonce=secrets.token_hex(16), issued_at=round(now, 3),
        expires_at=round(now + min(ttl_s, MAX_TTL_S), 3),
    )
    parse_resend(request.to_doc())  # the center holds itself to the device's rules
    return request, sign_document(request.to_doc(), key)


def _reasons(doc: dict[str, Any], key: str, where: str) -> tuple[tuple[int, str], ...]:
    out = []
    for raw in items(doc, key, where, MAX_SEQS):
        entry = check_keys(raw, f"{where} {key}", ("seq", "reason"))
        out.append((integer(entry, "seq", where, 0, MAX_SAFE_INT), text(entry, "reason", where, 300)))
    return tuple(out)


def parse_resend_answer(doc: object) -> ResendAnswer:
    """A verified resend answer, field by field. ConsentError names the first bad field."""
    where = "resend answer"
    doc = typed(doc, "resend-answer", where, _ANSWER_KEYS)
    answer = ResendAnswer(
        device_id=text(doc, "device_id", where, 64),
        request_id=matching(doc, "request_id", where, RESEND_ID),
        answered_at=time_field(doc, "answered_at", where),
        resent=_seqs(doc, "resent", where),
        withheld=_reasons(doc, "withheld", where),
        lost=_reasons(doc, "lost", where),
        deferred=_seqs(doc, "deferred", where),
    )
    every = [*answer.resent, *(s for s, _ in answer.withheld), *(s for s, _ in answer.lost), *answer.deferred]
    if len(set(every)) != len(every) or len(every) > MAX_SEQS:
        raise ConsentError(f"{where}: a sequence number is answered twice")
    return answer


def sign_resend_answer(answer: ResendAnswer, key: Ed25519PrivateKey) -> bytes:
    parse_resend_answer(answer.to_doc())  # the device holds itself to the center's rules
    return sign_document(answer.to_doc(), key)
