"""Who may use the console, and how: staff logins, sessions, roles, and the request guards.

Every request passes :func:`guard` first:

1. its ``Host`` header must name one of the console's allowed hosts (421 otherwise: no DNS rebinding);
2. outside the login page and the static files, a session of an active account is needed. A session is Flask's
   signed cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over TLS) holding the account's name and
   *generation*: removing an account or changing its password bumps the generation and so ends its sessions at
   their next request. Sessions end after ``IDLE_S`` without a request and ``MAX_AGE_S`` after login;
3. a state-changing request must carry the session's CSRF token and come from the same origin.

Logins are limited per client address and per account name, and in total (:mod:`edge_agent.web.limiter`);
each login and each refused login that was checked is written to the access log.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from edge_agent.center.console.context import ConsoleContext
from edge_agent.center.staff import StaffMember
from edge_agent.errors import CenterError
from edge_agent.web import guard as web

log = logging.getLogger(__name__)

OPEN_ENDPOINTS = frozenset({"login", "login_submit", "static"})
IDLE_S = 30 * 60
MAX_AGE_S = 12 * 3600
F = TypeVar("F", bound=Callable[..., Any])
_LOCAL_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")


def ctx() -> ConsoleContext:
    context: ConsoleContext = current_app.extensions["edge_console"]
    return context


def staff() -> StaffMember:
    """The signed-in account (only inside a request that passed the guard)."""
    member: StaffMember = g.staff
    return member


def _wants_html() -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def _signed_in() -> StaffMember | None:
    name, generation = session.get("staff"), session.get("generation")
    since, seen = session.get("since", 0), session.get("seen", 0)
    now = time.time()
    if not isinstance(name, str) or not isinstance(since, int | float) or not isinstance(seen, int | float):
        return None
    if now - since > MAX_AGE_S or now - seen > IDLE_S:
        return None
    member = ctx().center.staff.get(name)
    if member is None or not member.active or member.generation != generation:
        return None
    return member


def guard() -> Any:
    if not web.host_allowed(request.headers.get("Host", ""), ctx().allowed_hosts):
        # 421 Misdirected Request: the browser thinks it talks to another site.
        return web.refuse(421, "this console answers only to its own names (edge-center console --allowed-host)")
    if request.endpoint in OPEN_ENDPOINTS:
        return web.refuse(403, "cross-site request refused") if web.cross_site_refused() else None
    member = _signed_in()
    if member is None:
        if "staff" in session:
            session.clear()  # an ended session: forget it (a visitor's sign-in token stays)
        if _wants_html():
            return redirect(url_for("login", next=request.path), code=303)
        return web.refuse(401, "not signed in")
    g.staff = member
    session["seen"] = round(time.time())
    if web.cross_site_refused():
        return web.refuse(403, "cross-site request refused (missing or wrong CSRF token)")
    return None


def requires(role: str) -> Callable[[F], F]:
    """Only accounts with ``role`` may use the view (403 otherwise)."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not staff().may(role):
                return web.refuse(403, f"this needs the {role} role")
            return view(*args, **kwargs)

        return cast(F, checked)

    return wrap


def home_for(member: StaffMember) -> str:
    for role, endpoint in (("operator", "wall"), ("investigator", "evidence"), ("auditor", "access_page")):
        if member.may(role):
            return url_for(endpoint)
    return url_for("devices_page")


def login() -> Any:
    web.csrf_token()
    return render_template("login.html", next=request.args.get("next", ""))


def _client() -> str:
    return request.remote_addr or "unknown"


def login_submit() -> Any:
    c = ctx()
    name = request.form.get("name", "").strip().lower()[:64]
    password = request.form.get("password", "")
    keys = (f"client:{_client()}", f"name:{name}")
    wait = c.limiter.retry_after(*keys)
    if wait > 0:
        log.warning("console login from %s for %r refused: too many failures", _client(), name)
        flash(f"Too many failed sign-ins. Try again in {max(1, round(wait / 60))} min.", "error")
        return render_template("login.html", next=""), 429
    member = c.center.staff.authenticate(name, password)
    if member is None:
        c.limiter.failed(*keys)
        c.center.access.append(name or "(none)", "login_refused", detail=f"from {_client()}")
        flash("Wrong name or password.", "error")
        return render_template("login.html", next=""), 401
    c.center.access.append(member.name, "login", detail=f"from {_client()}")
    session.clear()  # never keep a pre-login session (fixation)
    session.permanent = True
    session.update(staff=member.name, generation=member.generation, since=round(time.time()),
                   seen=round(time.time()), csrf=secrets.token_urlsafe(32))
    target = request.form.get("next", "")
    # Only a path on this console: never "//other.site", nor a backslash (browsers read a backslash as "/").
    if not _LOCAL_PATH.fullmatch(target) or target.startswith("//"):
        target = home_for(member)
    return redirect(target, code=303)


def logout() -> Any:
    try:
        ctx().center.access.append(staff().name, "logout")
    except CenterError as exc:
        log.error("logout of %s not logged: %s", staff().name, exc)
    session.clear()
    return redirect(url_for("login"), code=303)
