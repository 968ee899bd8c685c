"""The Flask application: pairing, live view and consent. Zones, requests and the log are in ``pages.py``."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup

from edge_agent.consent import api
from edge_agent.consent.state import ConsentRecord, describe
from edge_agent.core.text import shown
from edge_agent.device.agent_state import AgentState, read_agent_state
from edge_agent.errors import EdgeAgentError
from edge_agent.ui import pages, security
from edge_agent.ui.context import UiContext
from edge_agent.web import guard

log = logging.getLogger(__name__)


def ctx() -> UiContext:
    context: UiContext = current_app.extensions["edge_ui"]
    return context


def consent_view(record: ConsentRecord, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    live = record.is_live_at(now)
    state = "live" if live else ("on-request" if record.mode == "on-request" else "off")
    return {
        "state": state,
        "text": describe(record, now),
        "expires_at": record.expires_at if live else None,
        "id": record.id,
    }


def _client() -> str:
    return request.remote_addr or "unknown"


def pair() -> str:
    guard.csrf_token()
    return render_template("pair.html", has_password=ctx().access.has_password(), paired=security.is_paired())


def pair_submit() -> Any:
    c = ctx()
    client = _client()
    wait = c.limiter.retry_after(client)
    if wait > 0:
        if c.limiter.audit_due(client):
            c.audit.append("ui_login_refused", client=client, reason="rate_limited")
        flash(f"Too many wrong tries. Try again in {wait / 60:.0f} min.", "error")
        return render_template("pair.html", has_password=c.access.has_password(), paired=False), 429
    code = request.form.get("code", "")
    password = request.form.get("password", "")
    method = "code" if code else "password"
    ok = c.access.redeem_code(code) if code else c.access.check_password(password)
    if not ok:
        c.limiter.failed(client)
        if c.limiter.audit_due(client):
            c.audit.append("ui_login_failed", client=client, method=method,
                           note="further refusals from this address within 15 min are not logged")
        log.warning("failed page login from %s (%s)", client, method)
        flash("That code or password is not valid (codes work once and expire after 10 minutes).", "error")
        return render_template("pair.html", has_password=c.access.has_password(), paired=False), 401
    security.start_session(method)
    c.audit.append("ui_paired", client=client, method=method)
    return redirect(url_for("live"), code=303)


def logout() -> Any:
    security.end_session()
    return redirect(url_for("pair"), code=303)


def live() -> str:
    return render_template("live.html")


def snapshot() -> Any:
    feed = ctx().feed
    snap = feed.shared() if feed is not None else None
    if snap is None:
        return jsonify(error="no picture yet: the camera is starting"), 503
    response = Response(snap.jpeg, mimetype="image/jpeg")
    response.headers["X-Fail-Closed"] = ",".join(snap.fail_closed)
    return response


def status() -> Any:
    c = ctx()
    feed = c.feed
    snap = feed.shared() if feed is not None else None
    return jsonify(
        consent=consent_view(c.consent.current()),
        camera={
            "ready": snap is not None,
            "captured_at": snap.captured_at if snap else None,
            "fail_closed": list(snap.fail_closed) if snap else [],
            "scene_shifted": snap.scene_shifted if snap else False,
            "error": getattr(feed, "error", None),
        },
        agent=agent_view(read_agent_state(c.paths)),
        waiting=waiting_view(),
    )


def waiting_view() -> dict[str, Any]:
    """Requests waiting for the homeowner's answer: the page shows a badge and a banner until they are answered."""
    try:
        items = api.waiting(ctx().paths)
    except EdgeAgentError as exc:
        log.error("requests unreadable: %s", exc)
        items = []
    return {
        "count": len(items),
        "police": sum(1 for i in items if i.kind == "police"),
        "masking": sum(1 for i in items if i.kind == "masking"),
        "items": [{"kind": i.kind, "id": i.id, "label": shown(i.label, 80), "answer_by": i.answer_by}
                  for i in items],
    }


def agent_view(state: AgentState | None) -> dict[str, Any]:
    """What the running agent says about itself: the records alone do not say whether anything is shared."""
    if state is None or not state.alive():
        return {"running": False, "connected": False, "sharing": False, "refused": 0, "last_refusal": ""}
    return {"running": True, "connected": state.connected, "sharing": state.sharing and state.connected,
            "refused": state.refused, "last_refusal": state.last_refusal, "enrolled": state.enrolled}


def consent_page() -> str:
    return render_template("consent.html", max_hours=ctx().profile.consent.max_live_hours)


def consent_live() -> Any:
    try:
        minutes = float(request.form.get("minutes", ""))
    except ValueError:
        flash("Say for how many minutes.", "error")
        return redirect(url_for("consent_page"), code=303)
    try:
        record = ctx().grant_live(minutes)
    except EdgeAgentError as exc:
        flash(str(exc), "error")
        return redirect(url_for("consent_page"), code=303)
    flash(describe(record), "ok")
    return redirect(url_for("consent_page"), code=303)


def consent_on_request() -> Any:
    record = ctx().on_request()
    flash(describe(record), "ok")
    return redirect(url_for("consent_page"), code=303)


def consent_revoke() -> Any:
    record, dropped = ctx().revoke(request.form.get("reason", "")[:200])
    message = describe(record)
    if dropped:
        message += f" ({dropped} waiting segment(s) deleted)"
    flash(message, "ok")
    return redirect(url_for("live") if request.form.get("back") == "live" else url_for("consent_page"), code=303)


def _template_globals() -> dict[str, Any]:
    c = ctx()
    try:
        banner = consent_view(c.consent.current())
    except EdgeAgentError as exc:
        banner = {"state": "off", "text": f"consent record unreadable: {exc}", "expires_at": None, "id": ""}
    paired = security.is_paired()
    return {"banner": banner, "paired": paired, "device_profile": c.profile.name,
            "waiting": waiting_view() if paired else {"count": 0, "items": []}}


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}`` a template prints: text loses bidirectional and invisible characters first (a request's
    reason or case id comes from elsewhere), whatever the template; markup the page built itself is left alone."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return shown(value)
    return value


def create_app(context: UiContext) -> Flask:
    app = Flask("edge_agent.ui", root_path=str(Path(__file__).parent))
    app.jinja_env.finalize = _finalize
    app.extensions["edge_ui"] = context
    security.install(app, context.access.session_key(), context.any_network, context.hosts, context.access.sessions)
    app.context_processor(_template_globals)
    routes: list[tuple[str, str, Any, list[str]]] = [
        ("/pair", "pair", pair, ["GET"]),
        ("/pair", "pair_submit", pair_submit, ["POST"]),
        ("/logout", "logout", logout, ["POST"]),
        ("/", "live", live, ["GET"]),
        ("/snapshot.jpg", "snapshot", snapshot, ["GET"]),
        ("/api/status", "status", status, ["GET"]),
        ("/consent", "consent_page", consent_page, ["GET"]),
        ("/consent/live", "consent_live", consent_live, ["POST"]),
        ("/consent/on-request", "consent_on_request", consent_on_request, ["POST"]),
        ("/consent/revoke", "consent_revoke", consent_revoke, ["POST"]),
    ]
    for rule, endpoint, view, methods in routes:
        app.add_url_rule(rule, endpoint, view, methods=methods)
    pages.register(app)
    return app
