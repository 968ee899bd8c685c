"""The crime center's public page: no login, read-only, cacheable; also as signed JSON; and the neighbours' opt-out.

``edge-center public serve`` serves it (behind the center's TLS proxy), built on the shared web helpers
(:mod:`edge_agent.web`: Host allow-list, CSRF, headers, the login-style limiter for asks):

- ``/``: what the program is, what devices mask, how long footage is kept, and the figures per month
  (:mod:`.public_figures`); ``Cache-Control: public, max-age=300``;
- ``/transparency.json``: the same figures as a document signed with the center's key, and ``/center.pub.json``,
  the key to check it with, so anyone can archive a month's page and prove later what it said;
- ``/verify_transparency.py``: a checker of such a copy that needs only Python and cryptography
  (:mod:`.transparency_verifier`);
- ``/opt-out``: anyone may ask for their property to be masked (an address or a description, optionally a map
  point and an area); the answer page shows the neighbour's private link once;
- ``/opt-out/<token>``: the private link: each camera asked (numbered, by area: never a device id or the
  homeowner's address), what its homeowner answered, and for a masked one the device's signed still with the new
  zone black.

Nothing here writes anything but a neighbour's ask; the devices are sent their masking requests by the
subscriber (:meth:`NeighbourDesk.dispatch`). Flask (and only this module of the center) loads the web stack.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import make_server

from edge_agent.center import transparency_verifier
from edge_agent.center.files import write_private
from edge_agent.center.keys import CenterPaths
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.places import parse_point
from edge_agent.center.public_figures import PublicReport, public_report, signed_report
from edge_agent.core.text import shown
from edge_agent.errors import EdgeAgentError
from edge_agent.web import guard
from edge_agent.web.limiter import LoginLimiter

REPORT_TTL_S = 300.0
CACHEABLE = "public, max-age=300"
ASKS_PER_CLIENT = 3  # per hour, per client address
ASKS_TOTAL = 200  # per hour, from everyone
CSS = """body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #ddd}td:first-child{white-space:nowrap}
td.n{text-align:right}.muted{color:#5d6677}.error{background:#fbe3e0;padding:.5rem}.ok{background:#e3f4e5;padding:.5rem}
label{display:block;margin:.6rem 0}input,textarea,select{font:inherit;width:100%;padding:.3rem}
img{max-width:100%;border:1px solid #ccc}code{background:#eef0f4;padding:0 .2rem}"""


class PublicPage:
    """The app's state: the center's folder, a cached report, the ask limiter."""

    def __init__(self, paths: CenterPaths, hosts: Iterable[str]) -> None:
        self.paths = paths
        self.hosts = {"localhost", "127.0.0.1", "::1", *(h.lower() for h in hosts)}
        self.desk = NeighbourDesk(paths)
        self.limiter = LoginLimiter(window=3600.0, per_key=ASKS_PER_CLIENT, total=ASKS_TOTAL)
        self._lock = threading.Lock()
        self._cached: tuple[float, PublicReport, bytes] | None = None

    def forget_report(self) -> None:
        with self._lock:
            self._cached = None

    def report(self) -> tuple[PublicReport, bytes]:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < REPORT_TTL_S:
                return self._cached[1], self._cached[2]
        report = public_report(self.paths)
        signed = signed_report(self.paths, report)
        with self._lock:
            self._cached = (time.monotonic(), report, signed)
        return report, signed


def _page(app: Flask) -> PublicPage:
    page: PublicPage = app.extensions["edge_public"]
    return page


def create_public_app(paths: CenterPaths, hosts: Iterable[str] = (), *, behind_proxy: bool = False) -> Flask:
    """``behind_proxy``: the page sits behind one TLS proxy that sets ``X-Forwarded-For``/``-Proto``/``-Host``;
    then the client's address (for the ask limit), scheme and name are taken from them (werkzeug's ProxyFix, one
    hop), not from the proxy's own connection."""
    app = Flask("edge_agent.center.public", root_path=str(Path(__file__).parent),
                template_folder="public_templates")
    if behind_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    state = PublicPage(paths, hosts)
    app.extensions["edge_public"] = state
    app.secret_key = _cookie_key(paths)
    guard.configure_cookies(app, "edge_public", 3600)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024
    app.jinja_env.finalize = lambda v: shown(v) if isinstance(v, str) else v
    app.jinja_env.filters["utc"] = utc

    @app.before_request
    def _guard() -> Any:
        if not guard.host_allowed(request.headers.get("Host", ""), state.hosts):
            return guard.refuse(421, "unknown host")
        if guard.cross_site_refused():
            return guard.refuse(403, "cross-site request refused (missing or wrong CSRF token)")
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        guard.set_headers(response)
        if request.endpoint in ("index", "transparency_json", "center_key", "verifier", "css") and \
                response.status_code == 200:
            response.headers["Cache-Control"] = CACHEABLE  # the same for everyone, no cookie: cacheable
        return response

    app.add_url_rule("/public.css", "css", lambda: Response(CSS, mimetype="text/css"))
    app.add_url_rule("/", "index", lambda: index(state))
    app.add_url_rule("/transparency.json", "transparency_json", lambda: transparency_json(state))
    app.add_url_rule("/center.pub.json", "center_key", lambda: Response(paths.public.read_bytes(),
                                                                         mimetype="application/json"))
    # The checker anyone can run on a kept copy (Python and cryptography only), served as text to read first.
    app.add_url_rule("/verify_transparency.py", "verifier", lambda: Response(
        Path(transparency_verifier.__file__).read_bytes(), mimetype="text/plain"))
    app.add_url_rule("/opt-out", "opt_out", lambda: opt_out_form(state), methods=["GET"])
    app.add_url_rule("/opt-out", "opt_out_submit", lambda: opt_out_submit(state), methods=["POST"])
    app.add_url_rule("/opt-out/<token>", "opt_out_status", lambda token: opt_out_status(state, token))
    app.add_url_rule("/opt-out/<token>/still/<int:number>.jpg", "opt_out_still",
                     lambda token, number: opt_out_still(state, token, number))
    return app


def utc(t: float) -> str:
    """A time as neighbours read it (the page has no script to turn epoch seconds into their local time)."""
    return time.strftime("%d %B %Y, %H:%M UTC", time.gmtime(t))


def index(state: PublicPage) -> str:
    report, _ = state.report()
    return render_template("public.html", report=report, months=report.months[::-1])


def transparency_json(state: PublicPage) -> Response:
    _, signed = state.report()
    return Response(signed, mimetype="application/json")


def opt_out_form(state: PublicPage) -> str:
    report, _ = state.report()
    return render_template("opt_out.html", areas=[a for a in report.devices_by_area if a != "area not given"],
                           csrf=guard.csrf_token(), error="")


def opt_out_submit(state: PublicPage) -> Any:
    client = request.remote_addr or "unknown"
    report, _ = state.report()
    areas = [a for a in report.devices_by_area if a != "area not given"]
    if state.limiter.retry_after(client) > 0:
        return render_template("opt_out.html", areas=areas, csrf=guard.csrf_token(),
                               error="Too many requests from here in the last hour; please try again later."), 429
    form = request.form
    try:
        point = parse_point(form["point"]) if form.get("point", "").strip() else None
        area = form.get("area", "")
        if area and area not in areas:
            area = ""
        ask, token = state.desk.new_ask(form.get("address", ""), form.get("description", ""), point=point,
                                        area=area, via="public page")
    except EdgeAgentError as exc:
        return render_template("opt_out.html", areas=areas, csrf=guard.csrf_token(), error=str(exc)), 400
    state.limiter.failed(client)  # counts asks, not failures: a few per hour per address
    state.forget_report()
    return render_template("opt_out_sent.html", ask=ask, link=f"{request.host_url}opt-out/{token}")


def _ask_for(state: PublicPage, token: str) -> Any:
    ask = state.desk.by_token(token)
    if ask is None:
        abort(404)
    return ask


def opt_out_status(state: PublicPage, token: str) -> str:
    ask = _ask_for(state, token)
    cameras = []
    for number, item in enumerate(state.desk.progress(ask), start=1):
        place = state.desk.places.get(item.device_id)
        cameras.append({"number": number, "area": (place.area if place else "") or "area not given",
                        "state": item.state, "answer": item.answer, "respond_by": item.respond_by,
                        "still": item.answer is not None and item.answer.still is not None})
    return render_template("opt_out_status.html", ask=ask, cameras=cameras, token=token)


def opt_out_still(state: PublicPage, token: str, number: int) -> Response:
    ask = _ask_for(state, token)
    items = state.desk.progress(ask)
    if not 1 <= number <= len(items):
        abort(404)
    answer = items[number - 1].answer
    if answer is None or answer.still is None:
        abort(404)
    response = Response(answer.still.jpeg, mimetype="image/jpeg")
    response.headers["X-Still-SHA256"] = answer.still.sha256
    response.headers["Content-Disposition"] = f"inline; filename=camera-{number}.jpg"
    return response


def _cookie_key(paths: CenterPaths) -> bytes:
    """The key that signs the opt-out form's CSRF cookie: its own, random, never the center's signing key."""
    path = paths.root / "public" / "cookie.key"
    if not path.exists():
        write_private(path, secrets.token_bytes(32), exclusive=True)
    return path.read_bytes()


def serve(paths: CenterPaths, host: str, port: int, hosts: Iterable[str], behind_proxy: bool = False) -> None:
    """Serve the page until interrupted (werkzeug's threaded server, behind the center's TLS proxy)."""
    names = list(hosts)
    server = make_server(host, port, create_public_app(paths, names, behind_proxy=behind_proxy), threaded=True)
    print(f"public page on http://{host}:{server.server_port}/ (answers to localhost and {', '.join(names) or '-'})")
    server.serve_forever()
