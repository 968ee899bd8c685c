"""A neighbour's masking request and the homeowner's answer: the two signed documents of the opt-out.

A neighbour asks the crime center (on its public page) to have their property masked. The center signs one
``masking_request`` per device near it and sends it on the device's ``masking`` topic. The homeowner draws or
extends a neighbour zone and answers ``masked`` naming the zones, or ``declined`` with a reason; a request left
unanswered past ``respond_by`` is answered ``expired``. The device signs a ``masking_answer`` holding what it did:
the neighbour zones (relative polygons), the policy hash in force, and a redacted still of its view made with those
zones (black where the neighbour's property is), so the neighbour can see for themselves.

Every field is checked as strictly as a police request (:mod:`edge_agent.consent.documents`): the signature proves
who wrote a document, not that its fields are sane.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.consent.documents import (
    HEX64,
    check_keys,
    choice,
    integer,
    items,
    matching,
    number,
    text,
    time_field,
)
from edge_agent.errors import ConsentError
from edge_agent.seal.signed import sign_document

MASKING_PREFIX = "m-"
MASKING_ID = re.compile(r"^m-[0-9a-f]{16}$")
NONCE = re.compile(r"^[0-9a-f]{32}$")
ZONE_NAME = re.compile(r"^[A-Za-z0-9 _.-]{1,64}$")
MAX_TTL_S = 60 * 24 * 3600.0  # a deadline further than 60 days is implausible
DEFAULT_TTL_S = 14 * 24 * 3600.0
CLOCK_SKEW_S = 300.0
MAX_STILL_BYTES = 256 * 1024  # a 640-pixel-wide JPEG is 30-80 KB
MAX_ZONES = 16
MAX_POINTS = 256

Decision = Literal["masked", "declined", "expired"]
DECISIONS: tuple[Decision, ...] = ("masked", "declined", "expired")
REQUEST_KEYS = ("type", "id", "device_id", "center_id", "property", "description", "area", "nonce", "issued_at",
                "respond_by")
ANSWER_KEYS = ("type", "device_id", "request_id", "decision", "reason", "zones", "profile_hash", "still",
               "fail_closed", "answered_at")


@dataclass(frozen=True, slots=True)
class MaskingRequest:
    id: str
    device_id: str
    center_id: str
    property: str  # the place as the neighbour named it ("14 Elm Street, the blue house and its driveway")
    description: str  # what they ask to have masked, in their words
    area: str  # the coarse area the center sent it to ("" when not known)
    nonce: str
    issued_at: float
    respond_by: float

    def to_doc(self) -> dict[str, Any]:
        return {"type": "masking_request", **asdict(self)}


def parse_masking_request(doc: object) -> MaskingRequest:
    """Field checks of a verified masking request. ConsentError names the first bad field."""
    where = "masking request"
    doc = check_keys(doc, where, REQUEST_KEYS)
    if doc["type"] != "masking_request":
        raise ConsentError(f"{where}: not a masking request")
    request = MaskingRequest(
        id=matching(doc, "id", where, MASKING_ID),
        device_id=text(doc, "device_id", where, 64),
        center_id=text(doc, "center_id", where, 64),
        property=text(doc, "property", where, 200),
        description=text(doc, "description", where, 1000, required=False),
        area=text(doc, "area", where, 64, required=False),
        nonce=matching(doc, "nonce", where, NONCE),
        issued_at=time_field(doc, "issued_at", where),
        respond_by=time_field(doc, "respond_by", where),
    )
    if request.respond_by <= request.issued_at:
        raise ConsentError(f"{where}: respond_by is before issued_at")
    return request


def make_masking_request(
    key: Ed25519PrivateKey, *, device_id: str, center_id: str, property: str, description: str, area: str = "",
    ttl_s: float = DEFAULT_TTL_S, now: float | None = None,
) -> tuple[MaskingRequest, bytes]:
    """A new masking request for one device, signed by the center: ``(request, wire bytes)``."""
    now = time.time() if now is None else now
    request = MaskingRequest(
        id=MASKING_PREFIX + secrets.token_hex(8), device_id=device_id, center_id=center_id, property=property,
        description=description, area=area, nonce=secrets.token_hex(16), issued_at=round(now, 3),
        respond_by=round(now + ttl_s, 3),
    )
    parse_masking_request(request.to_doc())  # the center holds itself to the device's rules
    return request, sign_document(request.to_doc(), key)


def check_fresh(request: MaskingRequest, device_id: str, now: float) -> None:
    """The device's checks beyond the fields: this device, not past its deadline, plausible times."""
    if request.device_id != device_id:
        raise ConsentError(f"masking request {request.id} names another device")
    if now >= request.respond_by:
        raise ConsentError(f"masking request {request.id} is stale: its deadline passed before it arrived")
    if request.issued_at > now + CLOCK_SKEW_S or request.respond_by - request.issued_at > MAX_TTL_S:
        raise ConsentError(f"masking request {request.id} has implausible issue or deadline times")


# -- the answer ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnswerZone:
    name: str
    coordinates: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Still:
    """A redacted still of the device's view, JPEG, made with the answer's zones in force."""

    jpeg: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()

    def to_doc(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "width": self.width, "height": self.height,
                "jpeg": base64.b64encode(self.jpeg).decode("ascii")}


@dataclass(frozen=True, slots=True)
class MaskingAnswer:
    device_id: str
    request_id: str
    decision: Decision
    reason: str
    zones: tuple[AnswerZone, ...]
    profile_hash: str
    still: Still | None
    fail_closed: tuple[str, ...]  # the still was masked wider than the zones (warm-up, scene shift): why
    answered_at: float

    def to_doc(self) -> dict[str, Any]:
        return {
            "type": "masking_answer", "device_id": self.device_id, "request_id": self.request_id,
            "decision": self.decision, "reason": self.reason,
            "zones": [{"name": z.name, "coordinates": [list(p) for p in z.coordinates]} for z in self.zones],
            "profile_hash": self.profile_hash, "still": None if self.still is None else self.still.to_doc(),
            "fail_closed": list(self.fail_closed), "answered_at": self.answered_at,
        }


def _zone(raw: object, where: str) -> AnswerZone:
    zone = check_keys(raw, where, ("name", "coordinates"))
    name = matching(zone, "name", where, ZONE_NAME)
    points = items(zone, "coordinates", where, MAX_POINTS)
    if len(points) < 3:
        raise ConsentError(f"{where}: a zone needs at least 3 points")
    coordinates = []
    for point in points:
        if not isinstance(point, list) or len(point) != 2:
            raise ConsentError(f"{where}: a point is [x, y]")
        pair = {"x": point[0], "y": point[1]}
        coordinates.append((number(pair, "x", where, 0.0, 1.0 + 1e-9), number(pair, "y", where, 0.0, 1.0 + 1e-9)))
    return AnswerZone(name, tuple(coordinates))


def _still(raw: object, where: str) -> Still | None:
    if raw is None:
        return None
    doc = check_keys(raw, where, ("sha256", "width", "height", "jpeg"))
    data = doc.get("jpeg")
    if not isinstance(data, str) or len(data) > MAX_STILL_BYTES * 4 // 3 + 4:
        raise ConsentError(f"{where}: field 'jpeg': expected base64 of at most {MAX_STILL_BYTES} bytes")
    try:
        jpeg = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ConsentError(f"{where}: field 'jpeg': not base64") from None
    still = Still(jpeg, integer(doc, "width", where, 16, 4096), integer(doc, "height", where, 16, 4096))
    if not jpeg.startswith(b"\xff\xd8") or matching(doc, "sha256", where, HEX64) != still.sha256:
        raise ConsentError(f"{where}: the still is not the JPEG its hash names")
    return still


def parse_masking_answer(doc: object) -> MaskingAnswer:
    """A verified masking answer, field by field. ConsentError names the first bad field."""
    where = "masking answer"
    doc = check_keys(doc, where, ANSWER_KEYS)
    if doc["type"] != "masking_answer":
        raise ConsentError(f"{where}: not a masking answer")
    decision = choice(doc, "decision", where, DECISIONS)
    zones = tuple(_zone(raw, f"{where} zone") for raw in items(doc, "zones", where, MAX_ZONES))
    reasons = items(doc, "fail_closed", where, 16)
    if any(not isinstance(x, str) or len(x) > 64 for x in reasons):
        raise ConsentError(f"{where}: field 'fail_closed': expected a list of short texts")
    fail_closed = tuple(reasons)
    answer = MaskingAnswer(
        device_id=text(doc, "device_id", where, 64),
        request_id=matching(doc, "request_id", where, MASKING_ID),
        decision=decision,  # type: ignore[arg-type]  # checked by choice() against DECISIONS
        reason=text(doc, "reason", where, 500, required=False),
        zones=zones,
        profile_hash=text(doc, "profile_hash", where, 128, required=False),
        still=_still(doc.get("still"), f"{where} still"),
        fail_closed=fail_closed,
        answered_at=time_field(doc, "answered_at", where),
    )
    if decision == "masked" and (not zones or answer.still is None):
        raise ConsentError(f"{where}: a 'masked' answer names its zones and carries a still")
    if decision == "declined" and not answer.reason.strip():
        raise ConsentError(f"{where}: a 'declined' answer gives a reason")
    if decision != "masked" and zones:
        raise ConsentError(f"{where}: only a 'masked' answer names zones")
    return answer
