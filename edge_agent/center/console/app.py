"""The console's Flask application. :func:`create_app` is the one factory: a page built on the console (a public
transparency page, neighbours' requests) registers its own routes on the app it returns, behind the same guards.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, redirect

from edge_agent.center.console import admin, auth, evidence, wall
from edge_agent.center.console.context import ConsoleContext
from edge_agent.core.text import shown
from edge_agent.web import guard as web

# The Media Source player feeds the <video> element from blob: URLs.
CSP = web.csp("media-src 'self' blob:")
SESSION_S = auth.MAX_AGE_S


def _headers(response: Response) -> Response:
    return web.set_headers(response, CSP)


def _utc(t: Any) -> str:
    if t is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(t)))


def _template_globals() -> dict[str, Any]:
    return {"me": g.get("staff"), "title": auth.ctx().title}


def home() -> Any:
    return redirect(auth.home_for(auth.staff()), code=303)


ROUTES: list[tuple[str, str, Any, list[str]]] = [
    ("/login", "login", auth.login, ["GET"]),
    ("/login", "login_submit", auth.login_submit, ["POST"]),
    ("/logout", "logout", auth.logout, ["POST"]),
    ("/", "home", home, ["GET"]),
    ("/wall", "wall", wall.wall, ["GET"]),
    ("/api/live", "api_live", wall.api_live, ["GET"]),
    ("/api/live/<device_id>/segments", "api_live_segments", wall.api_live_segments, ["GET"]),
    ("/live/<device_id>/<int:seq>.mp4", "live_media", wall.live_media, ["GET"]),
    ("/evidence", "evidence", evidence.evidence, ["GET"]),
    ("/evidence/play", "play", evidence.play, ["GET"]),
    ("/api/evidence/segments", "api_segments", evidence.api_segments, ["GET"]),
    ("/evidence/<device_id>/<int:seq>.mp4", "evidence_media", evidence.evidence_media, ["GET"]),
    ("/cases/<case_id>/windows", "add_window", evidence.add_window, ["POST"]),
    ("/cases/<case_id>/export", "export", evidence.export, ["POST"]),
    ("/requests", "requests_page", admin.requests_page, ["GET"]),
    ("/requests", "request_submit", admin.request_submit, ["POST"]),
    ("/devices", "devices_page", admin.devices_page, ["GET"]),
    ("/access-log", "access_page", admin.access_page, ["GET"]),
    ("/transparency", "transparency_page", admin.transparency_page, ["GET"]),
]


def create_app(context: ConsoleContext) -> Flask:
    app = Flask("edge_agent.center.console", root_path=str(Path(__file__).parent))
    app.extensions["edge_console"] = context
    app.secret_key = context.session_key()
    web.configure_cookies(app, "edge_console", SESSION_S, secure=context.secure_cookies)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024)
    app.before_request(auth.guard)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = web.csrf_token
    app.jinja_env.filters["utc"] = _utc
    # Every printed value loses invisible and direction-changing characters: a device's reasons, case ids and
    # legal bases are someone else's text (edge_agent.core.text).
    app.jinja_env.finalize = lambda v: shown(v) if isinstance(v, str) else v
    app.context_processor(_template_globals)
    for rule, endpoint, view, methods in ROUTES:
        app.add_url_rule(rule, endpoint, view, methods=methods)
    return app
