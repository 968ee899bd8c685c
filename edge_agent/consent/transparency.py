"""The transparency report: what left the device and why, over a time range, read from the audit log.

Only the audit log is read, so the report says no more than the log does: segments shared and under which live
grant or approved request, requests received, approved, denied, expired and rejected, and their case ids.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from edge_agent.consent.requests import REQUEST_PREFIX
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths

DEFAULT_DAYS = 30.0


@dataclass(frozen=True, slots=True)
class GrantShares:
    consent_id: str
    kind: str  # "live grant" or "request"
    segments: int
    case_id: str = ""


@dataclass(frozen=True, slots=True)
class CaseSummary:
    case_id: str
    received: int
    approved: int
    denied: int
    expired: int


@dataclass(frozen=True, slots=True)
class TransparencyReport:
    start: float
    end: float
    segments_shared: int
    segments_refused: int  # sealed, then refused by the broker: never shared
    grants: tuple[GrantShares, ...]
    requests_received: int
    requests_approved: int
    requests_denied: int
    requests_expired: int
    requests_rejected: int
    consent_changes: int
    cases: tuple[CaseSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def transparency_report(
    paths: DevicePaths, start: float | None = None, end: float | None = None, now: float | None = None
) -> TransparencyReport:
    """The report for ``[start, end)``; by default the last 30 days."""
    now = time.time() if now is None else now
    end = now if end is None else end
    start = end - DEFAULT_DAYS * 86400.0 if start is None else start
    shares: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    case_of: dict[str, str] = {}
    per_case: dict[str, Counter[str]] = {}
    received = rejected = changes = 0
    for entry in AuditLog(paths.audit).entries():
        t = float(entry.get("time", 0.0))
        if not start <= t < end:
            continue
        kind = entry.get("kind")
        if kind == "segment_shared":
            shares[str(entry.get("consent_id", ""))] += 1
        elif kind == "segment_refused":
            refused[str(entry.get("consent_id", ""))] += 1
        elif kind == "request_received":
            received += 1
            case = str(entry.get("case_id", ""))
            case_of[str(entry.get("request_id", ""))] = case
            per_case.setdefault(case, Counter())["received"] += 1
        elif kind == "request_answered":
            decision = str(entry.get("decision", ""))
            decisions[decision] += 1
            case = str(entry.get("case_id", ""))
            per_case.setdefault(case, Counter())[decision] += 1
            case_of.setdefault(str(entry.get("request_id", "")), case)
        elif kind == "request_rejected":
            rejected += 1
        elif kind == "consent_change":
            changes += 1
    shares.subtract(refused)
    grants = tuple(
        GrantShares(cid, "request" if cid.startswith(REQUEST_PREFIX) else "live grant", n, case_of.get(cid, ""))
        for cid, n in sorted(shares.items())
        if n > 0
    )
    cases = tuple(
        CaseSummary(case, c["received"], c["approved"], c["denied"], c["expired"])
        for case, c in sorted(per_case.items())
    )
    return TransparencyReport(
        start=start, end=end, segments_shared=sum(g.segments for g in grants), segments_refused=sum(refused.values()),
        grants=grants, requests_received=received,
        requests_approved=decisions["approved"], requests_denied=decisions["denied"],
        requests_expired=decisions["expired"], requests_rejected=rejected, consent_changes=changes, cases=cases,
    )


def format_report(report: TransparencyReport) -> list[str]:
    def day(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))

    lines = [
        f"Transparency report {day(report.start)} to {day(report.end)}",
        f"  consent changes: {report.consent_changes}",
        f"  segments shared: {report.segments_shared}",
    ]
    if report.segments_refused:
        lines.append(f"  segments refused by the broker (not shared): {report.segments_refused}")
    for grant in report.grants:
        note = f" (case {grant.case_id})" if grant.case_id else ""
        lines.append(f"    {grant.segments:5d} under {grant.kind} {grant.consent_id}{note}")
    lines.append(
        f"  requests: {report.requests_received} received, {report.requests_approved} approved, "
        f"{report.requests_denied} denied, {report.requests_expired} expired, "
        f"{report.requests_rejected} rejected as invalid"
    )
    for case in report.cases:
        lines.append(f"    case {case.case_id}: {case.received} received, {case.approved} approved, "
                     f"{case.denied} denied, {case.expired} expired")
    return lines
