"""The page's locks: local clients only, addressed by one of the device's own names (no DNS rebinding), a paired
session for everything but pairing, a CSRF check on every state-changing request, and headers that keep pages out
of caches and frames.

Sessions are Flask's signed cookies (itsdangerous, HMAC-SHA256 over ``session.key``): ``HttpOnly``,
``SameSite=Strict``. Each holds a session id that the device lists (:mod:`edge_agent.ui.sessions`), so signing out
ends it on the device too, and a random CSRF token; a ``POST`` must carry the token (form field ``csrf_token`` or
header ``X-CSRF-Token``), and a browser's ``Origin`` / ``Sec-Fetch-Site`` must say same origin.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from typing import Any

from flask import Flask, Response, abort, current_app, g, redirect, request, session, url_for

from edge_agent.ui.hosts import HostCheck
from edge_agent.ui.sessions import SessionRegistry
from edge_agent.web import guard as web
from edge_agent.web.guard import csrf_token

SAFE_METHODS = web.SAFE_METHODS
# Reachable without a paired session: the pairing page itself, and the bundled stylesheet and script (package
# code, no data). Everything else, snapshots included, needs a session.
OPEN_ENDPOINTS = frozenset({"pair", "pair_submit", "static"})
SESSION_DAYS = 30

CSP = web.BASE_CSP


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


def guard() -> Any:
    any_network = bool(g.get("any_network", False))
    if not client_allowed(request.remote_addr, any_network):
        abort(403)
    hosts: HostCheck = current_app.extensions["edge_ui_hosts"]
    if not hosts.allowed(request.headers.get("Host")):
        # 421 Misdirected Request: this page is not the site the browser thinks it is talking to.
        return web.refuse(421, "this page answers only to the device's own names and addresses")
    if request.endpoint not in OPEN_ENDPOINTS and not is_paired():
        if _wants_html():
            return redirect(url_for("pair"), code=303)
        return web.refuse(401, "not paired: open the page and pair this browser")
    if web.cross_site_refused():
        return web.refuse(403, "cross-site request refused (missing or wrong CSRF token)")
    return None


def headers(response: Response) -> Response:
    return web.set_headers(response, CSP)


def install(app: Flask, secret: bytes, any_network: bool, hosts: HostCheck, sessions: SessionRegistry) -> None:
    app.extensions["edge_ui_hosts"] = hosts
    app.extensions["edge_ui_sessions"] = sessions
    app.secret_key = secret
    web.configure_cookies(app, "edge_session", SESSION_DAYS * 86400)
    app.config.update(MAX_CONTENT_LENGTH=256 * 1024)

    def _mark() -> None:
        g.any_network = any_network

    app.before_request(_mark)
    app.before_request(guard)
    app.after_request(headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
