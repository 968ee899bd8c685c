"""Neighbours' opt-out at the center: a neighbour's ask, the signed masking requests it becomes, the devices' answers.

A neighbour asks (on the public page, or by phone to staff: ``edge-center neighbours ask``) for their property to be
masked: an address or description, optionally a map point, optionally an area. The ask gets an id (``n-...``) and a
private link token (only its SHA-256 is kept). The subscriber's courier (:meth:`NeighbourDesk.dispatch`) signs one
``masking_request`` per device near it (:mod:`edge_agent.center.places`: within ``RADIUS_KM`` of the point, or in the
area; devices without a place are asked anyway) and publishes it on the device's ``masking`` topic; it sends
unanswered ones again when a device comes online. Answers arrive on ``masking-answer`` and are kept as received
(signed, so anyone can check them again) with their still. The neighbour follows it all through the private link.

A center that wants it refuses live segments from a device that left a masking request unanswered past its
deadline (:mod:`edge_agent.center.neighbour_policy`).

Everything lives under ``DIR/neighbours/``; every step goes to its hash-chained ``audit.log``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge_agent.center.files import write_private
from edge_agent.center.keys import CenterPaths, DeviceRegistry, load_keys
from edge_agent.center.places import Place, Places, check_area, coarse, distance_km
from edge_agent.consent.documents import text
from edge_agent.consent.masking import (
    DEFAULT_TTL_S,
    MASKING_ID,
    MaskingAnswer,
    MaskingRequest,
    make_masking_request,
    parse_masking_answer,
    parse_masking_request,
)
from edge_agent.core.audit import AuditLog
from edge_agent.errors import CenterError, ConsentError, OpenError
from edge_agent.seal.signed import verify_document
from edge_agent.transport.topics import Topics, check_device_id

ASK_ID = re.compile(r"^n-[0-9a-f]{16}$")
RADIUS_KM = 1.5
MAX_OPEN_ASKS = 5000
FULL_EVERY_S = 60.0
Publish = Callable[..., object]


@dataclass(frozen=True, slots=True)
class Ask:
    id: str
    received_at: float
    address: str  # the neighbour's words: private to the center and the homeowners asked
    description: str
    point: tuple[float, float] | None
    area: str
    via: str  # "public page" or "staff"
    token_sha256: str
    respond_by: float
    devices: dict[str, str] = field(default_factory=dict)  # device id -> the masking request sent to it


@dataclass(frozen=True, slots=True)
class DeviceMasking:
    """One device's part in an ask: the request it was sent and what became of it."""

    device_id: str
    request_id: str
    respond_by: float
    answer: MaskingAnswer | None

    @property
    def state(self) -> str:
        if self.answer is not None and self.answer.decision != "expired":
            return self.answer.decision
        return "waiting" if time.time() < self.respond_by else "unanswered"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _one_line(value: str, key: str, limit: int, required: bool) -> str:
    """A field typed into a form: line breaks become spaces, then the documents' own text rules."""
    flat = " ".join(value.split())
    try:
        return text({key: flat}, key, key, limit, required=required)
    except ConsentError as exc:
        raise CenterError(str(exc)) from None


class NeighbourDesk:
    def __init__(self, paths: CenterPaths) -> None:
        self.paths = paths
        self.root = paths.root / "neighbours"
        self.audit = AuditLog(self.root / "audit.log")
        self.places = Places(paths.root)
        self._last_full = -FULL_EVERY_S

    # -- asks ------------------------------------------------------------------------------------------------

    def _ask_path(self, ask_id: str) -> Path:
        if not ASK_ID.fullmatch(ask_id):
            raise CenterError(f"no ask {ask_id!r}: ids look like n-0123456789abcdef")
        return self.root / "asks" / f"{ask_id}.json"

    def _save(self, ask: Ask) -> Ask:
        doc = asdict(ask)
        write_private(self._ask_path(ask.id), json.dumps(doc, sort_keys=True, indent=1).encode("utf-8"))
        return ask

    def get(self, ask_id: str) -> Ask:
        path = self._ask_path(ask_id)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            point = doc.get("point")
            return Ask(**{**doc, "point": None if point is None else (float(point[0]), float(point[1]))})
        except FileNotFoundError:
            raise CenterError(f"no ask {ask_id}") from None
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise CenterError(f"{path}: unreadable: {exc}") from exc

    def asks(self) -> list[Ask]:
        folder = self.root / "asks"
        found = [self.get(p.stem) for p in folder.glob("n-*.json")] if folder.is_dir() else []
        return sorted(found, key=lambda a: a.received_at)

    def new_ask(
        self, address: str, description: str = "", *, point: tuple[float, float] | None = None, area: str = "",
        via: str = "staff", ttl_s: float = DEFAULT_TTL_S, now: float | None = None,
    ) -> tuple[Ask, str]:
        """Record a neighbour's ask; returns it and the secret of the neighbour's private link (shown once)."""
        now = time.time() if now is None else now
        if not address.strip():
            if point is None:
                raise CenterError("give the property's address (or a description of it) or a map point")
            # A map point alone names the property too: the homeowners asked read it as the property to mask.
            address = f"the property at map point {point[0]:.5f}, {point[1]:.5f}"
        if sum(1 for a in self.asks() if now < a.respond_by) >= MAX_OPEN_ASKS:
            raise CenterError("too many open asks; try again later")
        token = secrets.token_urlsafe(32)
        ask = Ask(
            id="n-" + secrets.token_hex(8), received_at=round(now, 3),
            address=_one_line(address, "address", 200, True), description=_one_line(description, "description",
                                                                                       1000, False),
            point=point, area=check_area(area), via=via, token_sha256=_token_hash(token),
            respond_by=round(now + ttl_s, 3),
        )
        self._save(ask)
        write_private(self.root / "tokens" / f"{ask.token_sha256}.json", json.dumps({"ask": ask.id}).encode())
        self._mark()
        self.audit.append("neighbour_asked", ask_id=ask.id, via=via, area=ask.area, point_given=point is not None)
        return ask, token

    def by_token(self, token: str) -> Ask | None:
        """The ask a private link opens; None for a wrong token (compared by hash, in constant time)."""
        if not isinstance(token, str) or not 20 <= len(token) <= 100:
            return None
        digest = _token_hash(token)
        try:
            doc = json.loads((self.root / "tokens" / f"{digest}.json").read_text(encoding="utf-8"))
            ask = self.get(str(doc["ask"]))
        except (OSError, ValueError, KeyError, CenterError):
            return None
        return ask if hmac.compare_digest(ask.token_sha256, digest) else None

    # -- which devices -----------------------------------------------------------------------------------------

    def devices_for(self, ask: Ask) -> list[str]:
        """Devices near the point (or in the area, when no point is given); devices without a place are asked
        anyway. No point and no area: every device."""
        chosen = []
        for device_id, place in self.places.all(DeviceRegistry(self.paths.devices).device_ids()).items():
            if place is None or _near(ask, place):
                chosen.append(device_id)
        return chosen

    # -- sending -----------------------------------------------------------------------------------------------

    def _mark(self) -> None:
        write_private(self.root / "dispatch-due", b"")

    def dispatch(self, publish: Publish, prefix: str, now: float | None = None, *, force: bool = False) -> int:
        """Sign and send a masking request to every chosen device not asked yet, for every open ask. Cheap when
        nothing changed (one ``stat``): it runs when an ask was recorded or extended, and every ``FULL_EVERY_S``
        for devices enrolled since."""
        now = time.time() if now is None else now
        due = self.root / "dispatch-due"
        if not force and not due.exists() and time.monotonic() - self._last_full < FULL_EVERY_S:
            return 0
        self._last_full = time.monotonic()
        due.unlink(missing_ok=True)
        keys = None
        sent = 0
        for ask in self.asks():
            if now >= ask.respond_by:
                continue
            new = [d for d in self.devices_for(ask) if d not in ask.devices]
            if not new:
                continue
            keys = keys or load_keys(self.paths)
            devices = dict(ask.devices)
            for device_id in new:
                place = self.places.get(device_id)
                request, signed = make_masking_request(
                    keys.ed25519, device_id=device_id, center_id=keys.identity.center_id, property=ask.address,
                    description=ask.description, area=(place.area if place else "") or ask.area,
                    ttl_s=ask.respond_by - now, now=now,
                )
                write_private(self._sent_path(device_id, request.id), signed)
                devices[device_id] = request.id
                self._publish(publish, prefix, request, signed, now)
                self.audit.append("masking_sent", ask_id=ask.id, device_id=device_id, request_id=request.id,
                                  respond_by=request.respond_by)
                sent += 1
            self._save(Ask(**{**asdict(ask), "point": ask.point, "devices": devices}))
        return sent

    def device_online(self, device_id: str, publish: Publish, prefix: str, now: float | None = None) -> int:
        """Send a device that came online its unanswered masking requests again (it keeps one copy of each)."""
        now = time.time() if now is None else now
        again = 0
        for path in sorted((self.root / "sent" / device_id).glob("m-*.json")):
            if self._answer_path(device_id, path.stem).exists():
                continue
            signed = path.read_bytes()
            request = parse_masking_request(json.loads(signed)["doc"])
            if now < request.respond_by:
                self._publish(publish, prefix, request, signed, now)
                again += 1
        return again

    @staticmethod
    def _publish(publish: Publish, prefix: str, request: MaskingRequest, signed: bytes, now: float) -> None:
        publish(Topics(prefix, request.device_id).masking, signed, qos=1, content_type="application/json",
                expiry=max(1, int(request.respond_by - now)))

    def _sent_path(self, device_id: str, request_id: str) -> Path:
        check_device_id(device_id)
        if not MASKING_ID.fullmatch(request_id):
            raise CenterError(f"invalid masking request id {request_id!r}")
        return self.root / "sent" / device_id / f"{request_id}.json"

    def _answer_path(self, device_id: str, request_id: str) -> Path:
        return self.root / "answers" / device_id / f"{request_id}.signed"

    # -- answers -----------------------------------------------------------------------------------------------

    def learn_answer(
        self, device_id: str, payload: bytes, registry: DeviceRegistry
    ) -> tuple[Literal["accepted", "duplicate", "rejected"], str]:
        """A device's signed answer: ``("accepted" | "duplicate" | "rejected", why)``. Kept as received."""
        key = registry(device_id)
        if key is None:
            return "rejected", "device not enrolled"
        try:
            answer = parse_masking_answer(verify_document(payload, key))
        except OpenError:
            return "rejected", "masking answer does not verify against the device's key"
        except ConsentError as exc:
            return "rejected", str(exc)
        if answer.device_id != device_id:
            return "rejected", "masking answer names another device"
        if not self._sent_path(device_id, answer.request_id).exists():
            return "rejected", f"masking answer to {answer.request_id}, which this center never sent to {device_id}"
        target = self._answer_path(device_id, answer.request_id)
        if target.exists():
            return "duplicate", "" if target.read_bytes() == payload else "a second, different answer was ignored"
        if answer.still is not None:
            write_private(self.root / "stills" / f"{answer.request_id}.jpg", answer.still.jpeg)
        write_private(target, payload)
        self.audit.append("masking_answer", device_id=device_id, request_id=answer.request_id,
                          decision=answer.decision, zones=[z.name for z in answer.zones],
                          still_sha256="" if answer.still is None else answer.still.sha256)
        return "accepted", answer.decision

    def answer(self, device_id: str, request_id: str) -> MaskingAnswer | None:
        path = self._answer_path(device_id, request_id)
        try:
            return parse_masking_answer(json.loads(path.read_bytes())["doc"])
        except (OSError, ValueError, KeyError, ConsentError):
            return None

    def still(self, request_id: str) -> bytes | None:
        if not MASKING_ID.fullmatch(request_id):
            return None
        try:
            return (self.root / "stills" / f"{request_id}.jpg").read_bytes()
        except OSError:
            return None

    def progress(self, ask: Ask) -> list[DeviceMasking]:
        """Each device asked for ``ask``, in the order they were asked."""
        out = []
        for device_id, request_id in ask.devices.items():
            try:
                signed = self._sent_path(device_id, request_id).read_bytes()
                request = parse_masking_request(json.loads(signed)["doc"])
            except (OSError, ValueError, KeyError, ConsentError, CenterError):
                continue
            out.append(DeviceMasking(device_id, request_id, request.respond_by, self.answer(device_id, request_id)))
        return out

    def extend(self, ask_id: str, ttl_s: float = DEFAULT_TTL_S, now: float | None = None) -> Ask:
        """A new deadline for an ask: devices that have not answered are sent a new request at the next dispatch
        (answers to the old ones still count)."""
        now = time.time() if now is None else now
        ask = self.get(ask_id)
        keep = {}
        for item in self.progress(ask):
            if item.answer is not None and item.answer.decision != "expired":
                keep[item.device_id] = item.request_id
        ask = self._save(Ask(**{**asdict(ask), "point": ask.point, "devices": keep,
                                "respond_by": round(now + ttl_s, 3)}))
        self._mark()
        self.audit.append("neighbour_extended", ask_id=ask.id, respond_by=ask.respond_by)
        return ask

    def open_by_device(self, now: float | None = None) -> dict[str, list[DeviceMasking]]:
        """Masking requests without a masked or declined answer, per device (for staff)."""
        out: dict[str, list[DeviceMasking]] = {}
        for ask in self.asks():
            for item in self.progress(ask):
                if item.state in ("waiting", "unanswered"):
                    out.setdefault(item.device_id, []).append(item)
        return out


def _near(ask: Ask, place: Place) -> bool:
    if ask.point is not None:
        if place.near is None:  # only an area is known: asked unless the neighbour named another area
            return not ask.area or place.area.lower() == ask.area.lower()
        return distance_km(coarse(ask.point), place.near) <= RADIUS_KM
    if ask.area:
        return place.area.lower() == ask.area.lower()
    return True


def ask_summary(ask: Ask) -> dict[str, Any]:
    """What staff see of an ask (the address included: staff handle it)."""
    return {"id": ask.id, "received_at": ask.received_at, "address": ask.address, "area": ask.area,
            "respond_by": ask.respond_by, "devices": len(ask.devices), "via": ask.via}
