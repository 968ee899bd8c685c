"""The figures of the public transparency page, per calendar month (UTC), from the center's own records.

- devices enrolled, by coarse area only (``edge_agent.center.places``): never an address or a device id;
- live hours shared: capture time of the segments stored under a live grant (``evidence.jsonl``);
- police requests made (by issue month) and what became of them: approved, denied (or refused by the device,
  or withdrawn), expired, still waiting (``requests/`` and the devices' signed answers);
- neighbours' asks and the masking requests they became: masked, declined, unanswered, waiting;
- segments viewed and exported: only where the center keeps an access log of its console; this center's records
  hold none, and the page says so instead of printing a zero that would mean "nobody looked".

The whole report is signed with the center's key (:func:`signed_report`), so anyone can keep a copy and check
later that the center published exactly that.
"""

from __future__ import annotations

import calendar
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from edge_agent.center.files import write_private
from edge_agent.center.keys import CenterPaths, DeviceRegistry, load_keys
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.places import Places
from edge_agent.center.requests import list_requests
from edge_agent.seal.signed import sign_document

DENIED = ("denied", "refused", "withdrawn")
DEFAULT_SETTINGS = {
    "name": "Doorbell camera program",
    "operator": "the crime center",
    "retention": "Shared video is kept as evidence for as long as the center's evidence policy and the law require; "
                 "the center has not published a shorter period.",
    "contact": "",
}
NO_AREA = "area not given"
NO_ACCESS_LOG = ("segments viewed and exported: this center keeps no access log of its console yet, so they are "
                 "not counted here")


@dataclass(slots=True)
class Month:
    month: str  # "2026-11"
    live_hours: float = 0.0
    requests_made: int = 0
    approved: int = 0
    denied: int = 0
    expired: int = 0
    waiting: int = 0
    neighbour_asks: int = 0
    masking_requests: int = 0
    masked: int = 0
    declined: int = 0
    unanswered: int = 0
    segments_viewed: int | None = None  # None: not recorded at this center
    segments_exported: int | None = None


@dataclass(frozen=True, slots=True)
class PublicReport:
    center_id: str
    generated_at: float
    devices_by_area: dict[str, int]
    months: list[Month]
    notes: tuple[str, ...] = field(default=())

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["notes"] = list(self.notes)
        return {"type": "transparency", **doc}


def months_until(now: float, count: int) -> list[tuple[str, float, float]]:
    """(label, start, end) of ``count`` calendar months (UTC), oldest first, the last holding ``now``."""
    year, month = time.gmtime(now)[:2]
    out = []
    for _ in range(count):
        start = calendar.timegm((year, month, 1, 0, 0, 0))
        after = calendar.timegm((year + (month == 12), month % 12 + 1, 1, 0, 0, 0))
        out.append((f"{year:04d}-{month:02d}", float(start), float(after)))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def public_report(paths: CenterPaths, months: int = 12, now: float | None = None) -> PublicReport:
    now = time.time() if now is None else now
    bounds = months_until(now, max(1, months))
    figures = {label: Month(label) for label, _, _ in bounds}

    def month_of(t: float) -> Month | None:
        return next((figures[label] for label, a, b in bounds if a <= t < b), None)

    _live_hours(paths, month_of)
    for status in list_requests(paths, now):
        row = month_of(status.request.issued_at)
        if row is None:
            continue
        row.requests_made += 1
        if status.decision == "approved":
            row.approved += 1
        elif status.decision in DENIED:
            row.denied += 1
        elif status.decision == "expired":
            row.expired += 1
        else:
            row.waiting += 1
    _neighbours(paths, month_of)
    registry = DeviceRegistry(paths.devices)
    places = Places(paths.root).all(registry.device_ids())
    areas = Counter((place.area if place is not None and place.area else NO_AREA) for place in places.values())
    center_id = load_keys(paths).identity.center_id
    return PublicReport(center_id, round(now, 3), dict(sorted(areas.items())), [figures[b[0]] for b in bounds],
                        (NO_ACCESS_LOG,))


def _live_hours(paths: CenterPaths, month_of: Any) -> None:
    try:
        lines = paths.evidence.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            record = json.loads(line)
            start, end, consent = float(record["start"]), float(record["end"]), str(record["consent_id"])
        except (ValueError, KeyError, TypeError):
            continue
        row = month_of(start)
        if row is not None and consent.startswith("c-") and end > start:
            row.live_hours = round(row.live_hours + (end - start) / 3600.0, 4)


def _neighbours(paths: CenterPaths, month_of: Any) -> None:
    desk = NeighbourDesk(paths)
    for ask in desk.asks():
        row = month_of(ask.received_at)
        if row is None:
            continue
        row.neighbour_asks += 1
        for item in desk.progress(ask):
            row.masking_requests += 1
            state = item.state
            if state == "masked":
                row.masked += 1
            elif state == "declined":
                row.declined += 1
            elif state == "unanswered":
                row.unanswered += 1


def signed_report(paths: CenterPaths, report: PublicReport) -> bytes:
    """The report as a signed document (``edge_agent.seal.signed``), checkable with ``center.pub.json``."""
    return sign_document(report.to_doc(), load_keys(paths).ed25519)


def settings(paths: CenterPaths) -> dict[str, str]:
    """What the center says about itself on the page (``edge-center public configure``), with defaults."""
    found: dict[str, str] = dict(DEFAULT_SETTINGS)
    try:
        doc = json.loads((paths.root / "public" / "settings.json").read_text(encoding="utf-8"))
        found.update({k: str(v) for k, v in doc.items() if k in DEFAULT_SETTINGS})
    except (OSError, ValueError, AttributeError):
        pass
    return found


def configure(paths: CenterPaths, **values: str) -> dict[str, str]:
    current = settings(paths)
    current.update({k: " ".join(v.split())[:2000] for k, v in values.items() if k in DEFAULT_SETTINGS and v})
    write_private(paths.root / "public" / "settings.json", json.dumps(current, indent=1, sort_keys=True).encode())
    return current
