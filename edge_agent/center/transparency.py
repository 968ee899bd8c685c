"""The center's transparency report: per calendar month (UTC), how much footage it received and how often it looked.

``edge-center transparency`` prints it and the console shows it; :func:`transparency_report` returns plain
figures that a public page can show as they are. Per month:

- devices enrolled (at the end of the month, or now for the current one; withdrawn devices no longer count);
- live hours shared (the capture time of segments shared under a live grant);
- requests made (issued that month) and what became of them: approved, denied (or refused by the device),
  expired unanswered or answered "expired", still waiting;
- segments viewed (distinct segments looked at, live or recorded, by anyone) and segments exported.

It ends with the access log's head (entries and newest hash): published each month, it pins the log, so that a
later rewrite of the log shows.
"""

from __future__ import annotations

import calendar
import time
from collections import defaultdict
from dataclasses import dataclass, field

from edge_agent.center.access_log import AccessLog
from edge_agent.center.devices import enrolled_at, withdrawn_at, withdrawn_ids
from edge_agent.center.index import EvidenceIndex
from edge_agent.center.keys import CenterPaths, DeviceRegistry
from edge_agent.center.requests import list_requests

VIEWS = ("view_live", "view_recorded")
DENIED = ("denied", "refused", "withdrawn")


@dataclass(slots=True)
class MonthFigures:
    month: str  # "2026-11"
    devices_enrolled: int = 0
    live_hours: float = 0.0
    requests_made: int = 0
    approved: int = 0
    denied: int = 0
    expired: int = 0
    waiting: int = 0
    segments_viewed: int = 0
    segments_exported: int = 0


@dataclass(frozen=True, slots=True)
class TransparencyReport:
    generated_at: float
    months: tuple[MonthFigures, ...]  # oldest first
    access_log_entries: int
    access_log_head: str
    notes: tuple[str, ...] = field(default=())


def month_bounds(now: float, count: int) -> list[tuple[str, float, float]]:
    """(label, start, end) of the ``count`` calendar months (UTC) up to and including the one holding ``now``."""
    year, month = time.gmtime(now)[:2]
    out = []
    for _ in range(count):
        start = calendar.timegm((year, month, 1, 0, 0, 0))
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        end = calendar.timegm((next_year, next_month, 1, 0, 0, 0))
        out.append((f"{year:04d}-{month:02d}", float(start), float(end)))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def transparency_report(
    paths: CenterPaths, index: EvidenceIndex, access: AccessLog, months: int = 12, now: float | None = None
) -> TransparencyReport:
    now = time.time() if now is None else now
    bounds = month_bounds(now, max(1, months))
    figures = {label: MonthFigures(label) for label, _, _ in bounds}
    first, last = bounds[0][1], bounds[-1][2]

    def month_of(t: float) -> MonthFigures | None:
        return next((figures[label] for label, a, b in bounds if a <= t < b), None)

    for label, _, end in bounds:
        figures[label].devices_enrolled = _enrolled(paths, min(end, now))
    for start, end in index.live_spans(first, last):
        month = month_of(start)
        if month is not None:
            month.live_hours += (end - start) / 3600.0
    for status in list_requests(paths, now):
        month = month_of(status.request.issued_at)
        if month is not None:
            _count_request(month, status.decision)
    viewed: dict[str, set[tuple[str, float | None]]] = defaultdict(set)
    for entry in access.between(first, last):
        month = month_of(entry.time)
        if month is None:
            continue
        if entry.action in VIEWS:
            viewed[month.month].add((entry.device_id, entry.start))
        elif entry.action == "export":
            month.segments_exported += entry.segments
    for label, seen in viewed.items():
        figures[label].segments_viewed = len(seen)
    count, head = access.head()
    return TransparencyReport(now, tuple(figures[label] for label, _, _ in bounds), count, head)


def _enrolled(paths: CenterPaths, at: float) -> int:
    total = 0
    for device_id in (*DeviceRegistry(paths.devices).device_ids(), *withdrawn_ids(paths)):
        since, until = enrolled_at(paths, device_id), withdrawn_at(paths, device_id)
        if since is not None and since <= at and (until is None or until > at):
            total += 1
    return total


def _count_request(month: MonthFigures, decision: str) -> None:
    month.requests_made += 1
    if decision == "approved":
        month.approved += 1
    elif decision in DENIED:
        month.denied += 1
    elif decision == "expired":
        month.expired += 1
    else:
        month.waiting += 1


def format_report(report: TransparencyReport) -> str:
    head = ("month", "devices", "live h", "requests", "approved", "denied", "expired", "waiting", "viewed",
            "exported")
    lines = ["  ".join(f"{h:>8}" for h in head)]
    for m in report.months:
        cells = (m.month, m.devices_enrolled, f"{m.live_hours:.1f}", m.requests_made, m.approved, m.denied,
                 m.expired, m.waiting, m.segments_viewed, m.segments_exported)
        lines.append("  ".join(f"{c:>8}" for c in cells))
    lines.append(f"access log: {report.access_log_entries} entries, newest hash {report.access_log_head}")
    return "\n".join(lines)
