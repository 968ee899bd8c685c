"""The figures of the public transparency page, per calendar month (UTC), from the center's own records.

- devices enrolled at the end of each month (now, for this one), by coarse area only
  (``edge_agent.center.places``): never an address or a device id; withdrawn devices leave the count;
- live hours shared, police requests made (by issue month) and what became of them, and the segments the center's
  staff viewed and exported (from its access log): the center's own transparency report
  (:func:`edge_agent.center.transparency.transparency_report`), one computation for the console and this page;
- neighbours' asks and the masking requests they became: masked, declined, unanswered, waiting.

The access log's head (entries, newest hash) is part of the signed report: published, it pins the log.

The whole report is signed with the center's key (:func:`signed_report`), so anyone can keep a copy and check
later that the center published exactly that: the figures and also what the page says about the program (what it
is, what the devices mask, how long footage is kept: :func:`program`), which the page renders from the same
report, so the center cannot keep one promise on the page and another in the archived copies.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from edge_agent.center.devices import enrolled_at, withdrawn_at, withdrawn_ids
from edge_agent.center.files import write_private
from edge_agent.center.keys import CenterPaths, DeviceRegistry, load_keys
from edge_agent.center.neighbour_policy import OverduePolicy
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.places import Places
from edge_agent.center.services import Center
from edge_agent.center.transparency import month_bounds, transparency_report
from edge_agent.config.models import RetentionSettings
from edge_agent.config.policy import MAX_RETENTION_HOURS
from edge_agent.seal.signed import sign_document

DEFAULT_SETTINGS = {
    "name": "Doorbell camera program",
    "operator": "the crime center",
    "retention": "shared video is kept as evidence for as long as the center's evidence policy and the law require; "
                 "the center has not published a shorter period.",
    "contact": "",
}
NO_AREA = "area not given"
# What every device does, whatever the center: the daemon's privacy floor (docs/redaction.md, docs/consent.md).
WHAT_DEVICES_DO = (
    "Every picture is redacted on the device in the home, before it is stored or sent: neighbours' property that "
    "the homeowner marked is blacked out in every frame, and people passing in the street are masked. When the device "
    "cannot vouch for a picture (its detector failed, it fell behind, the camera was moved) it masks the whole street "
    "or the whole picture.",
    "Nothing is sent unless the homeowner agreed: off by default; a live stream only for a limited time (never "
    "open-ended), or a single time window the police asked for and the homeowner approved, one request at a time. "
    "The homeowner can stop at once.",
    "What is sent is encrypted so that only this center can read it, and signed so that the center can prove which "
    "camera recorded it. Every share, request and change is written in a tamper-evident log on the device.",
    "No face recognition, no identification of people, no cloud.",
)


@dataclass(slots=True)
class Month:
    month: str  # "2026-11"
    devices_enrolled: dict[str, int] = field(default_factory=dict)  # by area, at the end of the month (or now)
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
    segments_viewed: int = 0  # distinct segments any member of staff looked at, live or recorded
    segments_exported: int = 0


@dataclass(frozen=True, slots=True)
class PublicReport:
    center_id: str
    generated_at: float
    devices_by_area: dict[str, int]
    months: list[Month]
    access_log_entries: int = 0
    access_log_head: str = ""
    notes: tuple[str, ...] = field(default=())
    program: dict[str, Any] = field(default_factory=dict)  # what the page says about the program: :func:`program`

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["notes"] = list(self.notes)
        return {"type": "transparency", **doc}


def public_report(paths: CenterPaths, months: int = 12, now: float | None = None) -> PublicReport:
    now = time.time() if now is None else now
    bounds = month_bounds(now, max(1, months))
    with Center.open(paths) as center:
        own = transparency_report(paths, center.index, center.access, months=len(bounds), now=now)
    figures = {m.month: Month(m.month, live_hours=round(m.live_hours, 4), requests_made=m.requests_made,
                              approved=m.approved, denied=m.denied, expired=m.expired, waiting=m.waiting,
                              segments_viewed=m.segments_viewed, segments_exported=m.segments_exported)
               for m in own.months}

    def month_of(t: float) -> Month | None:
        return next((figures[label] for label, a, b in bounds if a <= t < b), None)

    _neighbours(paths, month_of)
    current = DeviceRegistry(paths.devices).device_ids()
    places = Places(paths.root).all([*current, *withdrawn_ids(paths)])
    area_of = {d: place.area if place is not None and place.area else NO_AREA for d, place in places.items()}
    areas = Counter(area_of[d] for d in current)
    for device_id, area in area_of.items():
        for label, _, end in bounds:
            if _enrolled_by(paths, device_id, min(end, now)):
                counts = figures[label].devices_enrolled
                counts[area] = counts.get(area, 0) + 1
    center_id = load_keys(paths).identity.center_id
    return PublicReport(center_id, round(now, 3), dict(sorted(areas.items())), [figures[b[0]] for b in bounds],
                        own.access_log_entries, own.access_log_head, program=program(paths))


def program(paths: CenterPaths) -> dict[str, Any]:
    """What the program is, what the devices mask and how long footage is kept, as the page states it."""
    about = settings(paths)
    return {
        "name": about["name"], "operator": about["operator"], "contact": about["contact"],
        "devices_do": list(WHAT_DEVICES_DO),
        # Whether the center refuses live video while a camera leaves a neighbour's request unanswered (the
        # homeowners' documentation says the center states it here).
        "refuses_live_when_neighbour_unanswered": OverduePolicy(paths).enabled(),
        "retention": {
            "device_default_hours": RetentionSettings().hours,
            "device_max_hours": MAX_RETENTION_HOURS,
            "device": f"On the device: redacted video is kept encrypted for {RetentionSettings().hours:g} hours by "
                      f"default (never more than {MAX_RETENTION_HOURS:g} hours), and only while the homeowner allows "
                      "requests or a live stream, so that a request can be answered; older video is deleted.",
            "center": about["retention"],
        },
    }


def _enrolled_by(paths: CenterPaths, device_id: str, when: float) -> bool:
    """Enrolled at ``when`` and not withdrawn by then (``edge_agent.center.devices``)."""
    enrolled, withdrawn = enrolled_at(paths, device_id), withdrawn_at(paths, device_id)
    return enrolled is not None and enrolled < when and (withdrawn is None or withdrawn >= when)


def _neighbours(paths: CenterPaths, month_of: Callable[[float], Month | None]) -> None:
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
