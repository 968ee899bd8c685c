"""Requests (investigators), devices (everyone), the access log (auditors) and the transparency report (everyone)."""

from __future__ import annotations

import time
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from edge_agent.center.config import broker_for
from edge_agent.center.console.auth import ctx, requires, staff
from edge_agent.center.console.evidence import CASE_RE, parse_utc
from edge_agent.center.devices import device_statuses
from edge_agent.center.keys import DeviceRegistry
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.requests import list_requests, send_request
from edge_agent.center.transparency import transparency_report
from edge_agent.core.timeparse import parse_duration
from edge_agent.errors import CenterError, EdgeAgentError

LOG_PAGE = 200


@requires("investigator")
def requests_page() -> Any:
    c = ctx().center
    rows = {r.id: r for r in c.index.requests()}
    statuses = sorted(list_requests(c.paths), key=lambda s: s.request.issued_at, reverse=True)
    return render_template("requests.html", statuses=statuses, rows=rows,
                           devices=DeviceRegistry(c.paths.devices).device_ids(), now=time.time())


@requires("investigator")
def request_submit() -> Any:
    c = ctx().center
    form = request.form
    try:
        case_id = form.get("case", "").strip()
        if not CASE_RE.fullmatch(case_id):
            raise CenterError("a case id is 1-128 letters, digits, spaces and . _ / : -")
        reason = form.get("reason", "").strip()
        if not reason:
            raise CenterError("say why: the homeowner reads the reason")
        broker, tls = broker_for(c.paths, None, None)
        start, end = parse_utc(form.get("start", "")), parse_utc(form.get("end", ""))
        device_id = form.get("device", "").strip()
        c.access.append(staff().name, "request", device_id=device_id, start=start, end=end, case_id=case_id,
                        detail=f"reason: {reason}"[:500])
        sent = send_request(c.paths, broker=broker, device_id=device_id, start=start, end=end, case_id=case_id,
                            reason=reason[:1000], legal_basis=form.get("legal_basis", "").strip()[:1000],
                            ttl_s=parse_duration(form.get("expires_in", "24h") or "24h"), tls=tls)
        c.index.add_request(sent, staff().name)
    except EdgeAgentError as exc:
        flash(f"Request not sent: {exc}", "error")
        return redirect(url_for("requests_page"), code=303)
    flash(f"Request {sent.id} sent to {sent.device_id} for case {sent.case_id}.", "ok")
    return redirect(url_for("requests_page"), code=303)


def devices_page() -> Any:
    c = ctx().center
    statuses = device_statuses(c.paths, c.index.device_summaries(), c.consent)
    # Neighbours' masking requests each device has not answered yet (edge_agent.center.neighbours).
    masking = {device: (len(items), sum(1 for i in items if i.state == "unanswered"))
               for device, items in NeighbourDesk(c.paths).open_by_device().items()}
    return render_template("devices.html", statuses=statuses, now=time.time(), masking=masking)


@requires("auditor")
def access_page() -> Any:
    c = ctx().center
    args = request.args
    try:
        before = int(args["before"]) if args.get("before") else None
    except ValueError:
        before = None
    filters = {k: args.get(k, "").strip()[:128] for k in ("staff", "action", "case_id", "device_id")}
    c.access.append(staff().name, "read_access_log",
                    detail=", ".join(f"{k}={v}" for k, v in filters.items() if v) or "latest entries")
    entries = c.access.entries(limit=LOG_PAGE, before=before, **filters)
    return render_template("access.html", entries=entries, check=c.access.verify(), filters=filters,
                           next_before=entries[-1].seq if len(entries) == LOG_PAGE else None)


def transparency_page() -> Any:
    c = ctx().center
    report = transparency_report(c.paths, c.index, c.access, months=12)
    return render_template("transparency.html", report=report)
