"""Zone editor, requests inbox, audit log and transparency report."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, current_app, flash, jsonify, redirect, render_template, request, url_for

from edge_agent.consent import api
from edge_agent.consent.inbox import Inbox
from edge_agent.consent.transparency import format_report, transparency_report
from edge_agent.core.audit import VerifyResult
from edge_agent.errors import EdgeAgentError
from edge_agent.redact.zonestore import parse_zones
from edge_agent.ui.context import VIA, UiContext

AUDIT_SHOWN = 300


def ctx() -> UiContext:
    context: UiContext = current_app.extensions["edge_ui"]
    return context


# -- zones -----------------------------------------------------------------------------------------------------


def zones_page() -> str:
    return render_template("zones.html")


def zones_get() -> Any:
    c = ctx()
    zones = c.zones.load()
    return jsonify(zones=[z.model_dump() for z in zones], source="homeowner" if c.zones.from_homeowner() else "profile")


def _draft() -> Any:
    data = request.get_json(silent=True)
    return parse_zones(data, "zones")


def zones_save() -> Any:
    c = ctx()
    try:
        zones = _draft()
    except EdgeAgentError as exc:
        return jsonify(error=str(exc)), 400
    entry = c.zones.save(zones, c.audit, via=VIA)
    if c.feed is not None:
        c.feed.set_zones(zones.zones)
    return jsonify(saved=len(zones.zones), audit_seq=entry["seq"])


def zones_preview() -> Any:
    c = ctx()
    try:
        zones = _draft()
    except EdgeAgentError as exc:
        return jsonify(error=str(exc)), 400
    jpeg = c.feed.preview(zones.zones) if c.feed is not None else None
    if jpeg is None:
        return jsonify(error="no picture yet: the camera is starting"), 503
    return Response(jpeg, mimetype="image/jpeg")


def calibration() -> Any:
    feed = ctx().feed
    snap = feed.calibration() if feed is not None else None
    if snap is None:
        return jsonify(error="no picture yet: the camera is starting"), 503
    return Response(snap.jpeg, mimetype="image/jpeg")


def confirm_scene() -> Any:
    c = ctx()
    c.zones.confirm_scene(c.audit, via=VIA)
    if c.feed is not None:
        c.feed.confirm_scene()
    return jsonify(confirmed=True)


# -- requests --------------------------------------------------------------------------------------------------


def _inbox() -> Inbox:
    return Inbox(ctx().paths)


def requests_page() -> str:
    now = time.time()
    c = ctx()
    entries = sorted(api.list_requests(c.paths, now), key=lambda e: e.received_at, reverse=True)
    neighbours = sorted(api.list_masking(c.paths, now), key=lambda e: e.received_at, reverse=True)
    zones = [z.name for z in c.zones.load() if z.kind == "neighbour"]
    return render_template("requests.html", entries=entries, neighbours=neighbours, neighbour_zones=zones, now=now)


def masking_answer(request_id: str) -> Any:
    """A neighbour's masking request: masked by a neighbour zone in force, or declined with a reason."""
    c = ctx()
    decision = request.form.get("decision", "")
    try:
        if decision == "masked":
            entry = api.mask_for_neighbour(c.paths, request_id, [request.form.get("zone", "")], c.zones.load())
            flash(f"Masked by zone {', '.join(entry.zones)}: your device sends the answer with a redacted still.",
                  "ok")
        elif decision == "declined":
            api.decline_masking(c.paths, request_id, request.form.get("reason", "")[:500])
            flash("Declined: your device sends your answer and reason.", "ok")
        else:
            flash("Choose mask or decline.", "error")
    except EdgeAgentError as exc:
        flash(str(exc), "error")
    return redirect(url_for("requests_page"), code=303)


def request_answer(request_id: str) -> Any:
    decision = request.form.get("decision", "")
    reason = request.form.get("reason", "").strip()[:500]
    try:
        # Inbox.decide rather than api.approve_request: the homeowner's reason goes with an approval too.
        if decision == "approved":
            entry = _inbox().decide(request_id, "approved", reason)
        elif decision == "denied":
            entry = _inbox().decide(request_id, "denied", reason)
        else:
            flash("Choose approve or deny.", "error")
            return redirect(url_for("requests_page"), code=303)
    except EdgeAgentError as exc:
        flash(str(exc), "error")
        return redirect(url_for("requests_page"), code=303)
    flash(f"Request for case {entry.request.case_id}: {decision}.", "ok")
    return redirect(url_for("requests_page"), code=303)


# -- audit and transparency ------------------------------------------------------------------------------------


def audit_page() -> str:
    c = ctx()
    try:
        result: VerifyResult | None = api.verify_audit(c.paths)
        entries = api.audit_entries(c.paths)
    except EdgeAgentError:
        result, entries = None, []
    report = format_report(transparency_report(c.paths))
    shown = entries[-AUDIT_SHOWN:][::-1]
    return render_template("audit.html", result=result, entries=shown, total=len(entries), report=report)


def register(app: Flask) -> None:
    routes: list[tuple[str, str, Any, list[str]]] = [
        ("/zones", "zones_page", zones_page, ["GET"]),
        ("/api/zones", "zones_get", zones_get, ["GET"]),
        ("/api/zones", "zones_save", zones_save, ["POST"]),
        ("/api/zones/preview", "zones_preview", zones_preview, ["POST"]),
        ("/zones/calibration.jpg", "calibration", calibration, ["GET"]),
        ("/zones/confirm-scene", "confirm_scene", confirm_scene, ["POST"]),
        ("/requests", "requests_page", requests_page, ["GET"]),
        ("/requests/<request_id>/answer", "request_answer", request_answer, ["POST"]),
        ("/masking/<request_id>/answer", "masking_answer", masking_answer, ["POST"]),
        ("/audit", "audit_page", audit_page, ["GET"]),
    ]
    for rule, endpoint, view, methods in routes:
        app.add_url_rule(rule, endpoint, view, methods=methods)
