"""Request guards and response headers shared by the homeowner's page and the crime center's console.

- **CSRF**: each session holds a random token; a state-changing request must carry it (form field ``csrf_token``
  or header ``X-CSRF-Token``), and a browser's ``Origin`` / ``Sec-Fetch-Site`` must say same origin.
- **Host allow-list**: a request whose ``Host`` header names no allowed host is refused, so a page on another
  name (DNS rebinding) cannot reach the server through the victim's browser.
- **Headers**: a strict Content-Security-Policy (scripts and styles from the server only: nothing from a CDN), no
  framing, no sniffing, no caching of pages.
- **Cookies**: Flask's signed session cookie, ``HttpOnly`` and ``SameSite=Strict`` (and ``Secure`` over TLS).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

from flask import Flask, Response, jsonify, request, session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

BASE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def csp(*extra: str) -> str:
    """The base policy plus ``extra`` directives (e.g. ``"media-src 'self' blob:"`` for a Media Source player)."""
    return "; ".join((BASE_CSP, *extra))


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def same_origin() -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin.rstrip("/") == request.host_url.rstrip("/")


def csrf_ok() -> bool:
    expected = session.get("csrf")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), sent.encode())


def cross_site_refused() -> bool:
    """True when a state-changing request fails the same-origin or the CSRF check."""
    return request.method not in SAFE_METHODS and (not same_origin() or not csrf_ok())


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without the port (``[::1]:8090`` -> ``::1``), lower case."""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def host_allowed(host_header: str, allowed: Iterable[str]) -> bool:
    return host_name(host_header) in {name.lower() for name in allowed}


def refuse(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def set_headers(response: Response, policy: str = BASE_CSP) -> Response:
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # "same-origin", not "no-referrer": with no referrer Chromium sends "Origin: null" on form posts.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def configure_cookies(app: Flask, name: str, lifetime_s: int, *, secure: bool = False) -> None:
    app.config.update(
        SESSION_COOKIE_NAME=name,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=lifetime_s,
    )
