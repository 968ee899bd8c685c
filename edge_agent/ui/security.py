"""The page's locks: local clients only, addressed by one of the device's own names (no DNS rebinding), a paired
session for everything but pairing, a CSRF check on every state-changing request, and headers that keep pages out
of caches and frames.

Sessions are Flask's signed cookies (itsdangerous, HMAC-SHA256 over ``session.key``): ``HttpOnly``,
``SameSite=Strict``. Each holds a session id that the device lists (:mod:`edge_agent.ui.sessions`), so signing out
ends it on the device too, and a random CSRF token; a ``POST`` must carry the token (form field ``csrf_token`` or
header ``X-CSRF-Token``), and a browser's ``Origin`` / ``Sec-Fetch-Site`` must say same origin.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from typing import Any

from flask import Flask, Response, abort, current_app, g, jsonify, redirect, request, session, url_for

from edge_agent.ui.hosts import HostCheck
from edge_agent.ui.sessions import SessionRegistry

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reachable without a paired session: the pairing page itself, and the bundled stylesheet and script (package
# code, no data). Everything else, snapshots included, needs a session.
OPEN_ENDPOINTS = frozenset({"pair", "pair_submit", "static"})
SESSION_DAYS = 30

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def client_allowed(addr: str | None, any_network: bool) -> bool:
    """Loopback, private and link-local addresses: the homeowner's own network."""
    if any_network:
        return True
    try:
        ip = ipaddress.ip_address(addr or "")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_private or ip.is_link_local


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _registry() -> SessionRegistry:
    registry: SessionRegistry = current_app.extensions["edge_ui_sessions"]
    return registry


def is_paired() -> bool:
    """A signed cookie that says paired, whose session id the device still lists. Checked once per request."""
    if "paired_checked" not in g:
        g.paired_checked = bool(session.get("paired")) and _registry().valid(session.get("sid"))
    return bool(g.paired_checked)


def start_session(method: str) -> None:
    """A fresh session after pairing (never reuse a pre-login session: session fixation)."""
    session.clear()
    session.permanent = True
    session["paired"] = True
    session["sid"] = _registry().open(method)
    session["since"] = round(time.time())
    session["method"] = method
    session["csrf"] = secrets.token_urlsafe(32)
    g.paired_checked = True


def end_session() -> None:
    """Sign out: the device forgets the session id, so a copy of the cookie is worth nothing either."""
    _registry().close(session.get("sid"))
    session.clear()
    g.paired_checked = False


def _wants_html() -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def _same_origin() -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin.rstrip("/") == request.host_url.rstrip("/")


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), sent.encode())


def _refuse(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def guard() -> Any:
    any_network = bool(g.get("any_network", False))
    if not client_allowed(request.remote_addr, any_network):
        abort(403)
    hosts: HostCheck = current_app.extensions["edge_ui_hosts"]
    if not hosts.allowed(request.headers.get("Host")):
        # 421 Misdirected Request: this page is not the site the browser thinks it is talking to.
        return _refuse(421, "this page answers only to the device's own names and addresses")
    if request.endpoint not in OPEN_ENDPOINTS and not is_paired():
        if _wants_html():
            return redirect(url_for("pair"), code=303)
        return _refuse(401, "not paired: open the page and pair this browser")
    if request.method not in SAFE_METHODS and (not _same_origin() or not _csrf_ok()):
        return _refuse(403, "cross-site request refused (missing or wrong CSRF token)")
    return None


def headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # "same-origin", not "no-referrer": with no referrer Chromium sends "Origin: null" on form posts.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def install(app: Flask, secret: bytes, any_network: bool, hosts: HostCheck, sessions: SessionRegistry) -> None:
    app.extensions["edge_ui_hosts"] = hosts
    app.extensions["edge_ui_sessions"] = sessions
    app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME="edge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=SESSION_DAYS * 86400,
        MAX_CONTENT_LENGTH=256 * 1024,
    )

    def _mark() -> None:
        g.any_network = any_network

    app.before_request(_mark)
    app.before_request(guard)
    app.after_request(headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
