"""The homeowner's inbox of neighbours' masking requests, in ``<data-dir>/masking/<id>.json``.

A request is accepted only if it verifies against the enrolled center's key, names this device, is before its
deadline and was never seen (nonce). It waits for the homeowner, whatever the consent mode: masking more never
needs consent. The homeowner answers ``masked`` naming the neighbour zones that now cover the property (they must
be neighbour zones in force: drawn on the page or with ``edge-agent requests mask --points``), or ``declined``
with a reason; an unanswered one expires at its deadline. Every step is audited; the running agent publishes the
signed answer with a still (:mod:`edge_agent.device.masking_worker`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.config.models import Zone
from edge_agent.consent.masking import MASKING_ID, MaskingRequest, check_fresh, parse_masking_request
from edge_agent.core.audit import AuditLog
from edge_agent.core.files import append_line, atomic_write
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConsentError, OpenError
from edge_agent.seal.signed import verify_document

State = Literal["pending", "masked", "declined", "expired"]
MAX_SEEN_LINES = 10_000  # nonces of accepted requests, for replay checks; older ones are past any deadline


@dataclass(frozen=True, slots=True)
class MaskingEntry:
    request: MaskingRequest
    state: State
    received_at: float
    answered_at: float | None = None
    reason: str = ""
    zones: tuple[str, ...] = ()  # the neighbour zones that mask the property
    published: bool = False
    still_sha256: str = ""

    @property
    def id(self) -> str:
        return self.request.id

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["zones"] = list(self.zones)
        return doc


def _entry(data: dict[str, Any]) -> MaskingEntry:
    return MaskingEntry(
        request=parse_masking_request({"type": "masking_request", **data["request"]}),
        state=data["state"],
        received_at=float(data["received_at"]),
        answered_at=None if data.get("answered_at") is None else float(data["answered_at"]),
        reason=str(data.get("reason", "")),
        zones=tuple(str(z) for z in data.get("zones", ())),
        published=bool(data.get("published", False)),
        still_sha256=str(data.get("still_sha256", "")),
    )


class MaskingInbox:
    def __init__(self, paths: DevicePaths) -> None:
        self.folder = paths.root / "masking"
        self.audit = AuditLog(paths.audit)

    def _path(self, request_id: str) -> Path:
        if not MASKING_ID.fullmatch(request_id):
            raise ConsentError(f"no masking request {request_id!r}: ids look like m-0123456789abcdef")
        return self.folder / f"{request_id}.json"

    def _save(self, entry: MaskingEntry) -> MaskingEntry:
        atomic_write(self._path(entry.id), json.dumps(entry.to_dict(), indent=2, sort_keys=True).encode("utf-8"),
                     mode=0o600)
        return entry

    def get(self, request_id: str) -> MaskingEntry:
        path = self._path(request_id)
        try:
            return _entry(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ConsentError(f"no masking request {request_id!r} in {self.folder}") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConsentError(f"{path}: masking request entry is malformed: {exc}") from exc

    def entries(self) -> list[MaskingEntry]:
        if not self.folder.is_dir():
            return []
        return sorted((self.get(p.stem) for p in self.folder.glob("m-*.json")), key=lambda e: e.received_at)

    def authentic(
        self, payload: bytes, center_key: Ed25519PublicKey, device_id: str, now: float
    ) -> MaskingRequest | None:
        """The request in ``payload`` if it is authentic, fresh, for this device and new; None for one already in
        the inbox (the center sends a request again when the device comes online); ConsentError otherwise. Only
        an authentic message reads a file: junk costs one signature check, cheap enough for every message of a
        flood."""
        try:
            doc = verify_document(payload, center_key)
        except OpenError:
            raise ConsentError("masking request signature does not verify against the enrolled center key") from None
        request = parse_masking_request(doc)
        check_fresh(request, device_id, now)
        if self._path(request.id).exists():
            return None
        if self._seen(request):
            raise ConsentError(f"masking request {request.id} is a replay: its id or nonce was seen before")
        return request

    def _seen(self, request: MaskingRequest) -> bool:
        seen = self.folder / "seen.jsonl"
        if not seen.exists():
            return False
        for line in seen.read_text(encoding="utf-8").splitlines()[-MAX_SEEN_LINES:]:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and (item.get("nonce") == request.nonce or item.get("id") == request.id):
                return True
        return False

    def accept(self, request: MaskingRequest, now: float) -> MaskingEntry:
        """Put an authentic request in the inbox for the homeowner."""
        self.folder.mkdir(parents=True, exist_ok=True)
        append_line(self.folder / "seen.jsonl", json.dumps({"id": request.id, "nonce": request.nonce}))
        entry = self._save(MaskingEntry(request, "pending", round(now, 3)))
        self.audit.append("masking_received", request_id=request.id, center_id=request.center_id,
                          property=request.property[:200], respond_by=request.respond_by)
        return entry

    def _pending(self, request_id: str, now: float) -> MaskingEntry:
        entry = self.expire_if_due(self.get(request_id), now)
        if entry.state != "pending":
            raise ConsentError(f"masking request {request_id} is already {entry.state}")
        return entry

    def mask(self, request_id: str, zone_names: Sequence[str], zones_in_force: Sequence[Zone],
             now: float | None = None) -> MaskingEntry:
        """Answer "masked": ``zone_names`` are neighbour zones in force that now cover the property."""
        now = time.time() if now is None else now
        entry = self._pending(request_id, now)
        names = list(dict.fromkeys(zone_names))
        if not names:
            raise ConsentError("name the neighbour zone that masks the property (draw it first)")
        kinds = {z.name: z.kind for z in zones_in_force}
        for name in names:
            if kinds.get(name) != "neighbour":
                found = "not a zone in force" if name not in kinds else f"a {kinds[name]} zone"
                raise ConsentError(f"zone {name!r} is {found}: only a neighbour zone masks a neighbour's property")
        entry = self._save(replace(entry, state="masked", answered_at=round(now, 3), zones=tuple(names)))
        self.audit.append("masking_answered", request_id=request_id, decision="masked", zones=names)
        return entry

    def decline(self, request_id: str, reason: str, now: float | None = None) -> MaskingEntry:
        now = time.time() if now is None else now
        reason = reason.strip()
        if not reason:
            raise ConsentError("say why you decline (the neighbour and the center read it)")
        entry = self._pending(request_id, now)
        entry = self._save(replace(entry, state="declined", answered_at=round(now, 3), reason=reason[:500]))
        self.audit.append("masking_answered", request_id=request_id, decision="declined", reason=reason[:200])
        return entry

    def expire_if_due(self, entry: MaskingEntry, now: float) -> MaskingEntry:
        if entry.state != "pending" or now < entry.request.respond_by:
            return entry
        entry = self._save(replace(entry, state="expired", answered_at=round(now, 3)))
        self.audit.append("masking_answered", request_id=entry.id, decision="expired")
        return entry

    def expire_due(self, now: float | None = None) -> list[MaskingEntry]:
        now = time.time() if now is None else now
        return [e for e in (self.expire_if_due(e, now) for e in self.entries()) if e.state == "expired"]

    def mark_published(self, entry: MaskingEntry, still_sha256: str) -> MaskingEntry:
        return self._save(replace(self.get(entry.id), published=True, still_sha256=still_sha256))
