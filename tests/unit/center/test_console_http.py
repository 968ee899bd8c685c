"""The console over HTTP (Flask's test client) on a center holding real evidence: its locks (Host allow-list,
sign-in, roles, CSRF, login limits, sessions ended with the account) and that every look lands in the access log."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from flask import Flask
from flask.testing import FlaskClient

from edge_agent.center import bundle_verifier
from edge_agent.center.console import ConsoleContext, create_app
from edge_agent.center.devices import withdraw_device
from edge_agent.center.keys import CenterPaths
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.services import Center
from edge_agent.consent.requests import PoliceRequest
from edge_agent.web.limiter import FAILS_PER_KEY
from tests.unit.center.case_helpers import ASKED, CASE, LIVE, CaseWorld, make_world

PASSWORD = "correct horse battery"
HOST = "console.rtcc.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> CaseWorld:
    world = make_world(tmp_path_factory.mktemp("console"))
    with world.open() as center:
        center.staff.add("olive", ["operator"], PASSWORD)
        center.staff.add("ivan", ["investigator"], PASSWORD)
        center.staff.add("audrey", ["auditor"], PASSWORD)
    return world


@pytest.fixture
def center(world: CaseWorld) -> Iterator[Center]:
    with world.open() as opened:
        yield opened


@pytest.fixture
def app(center: Center) -> Flask:
    app = create_app(ConsoleContext(center, frozenset({HOST, "localhost"})))
    app.testing = True
    return app


class _At(FlaskClient):
    """A browser that reaches the console by its name, ``HOST``, unless a request says otherwise."""

    def open(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        kwargs.setdefault("base_url", f"http://{HOST}")
        return super().open(*args, **kwargs)  # type: ignore[arg-type]


def _client(app: Flask, addr: str = "10.1.2.3") -> FlaskClient:
    app.test_client_class = _At
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=addr)
    return client


def _token(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


def login(app: Flask, name: str, password: str = PASSWORD, addr: str = "10.1.2.3") -> FlaskClient:
    client = _client(app, addr)
    response = client.post("/login", data={"name": name, "password": password, "csrf_token": _token(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def _actions(center: Center) -> list[str]:
    return [e.action for e in reversed(center.access.entries(limit=1000))]


def test_host_allow_list_and_sign_in_required(app: Flask) -> None:
    client = _client(app)
    assert client.get("/login", base_url="http://evil.example.com").status_code == 421
    assert client.get("/login", base_url="http://console.rtcc.example.evil.com:8090").status_code == 421
    routes = [r for r in app.url_map.iter_rules() if r.endpoint not in ("login", "login_submit", "static")]
    assert len(routes) >= 17
    for rule in routes:
        path = re.sub(r"<(int:)?(\w+)>", lambda m: "1" if m.group(1) else "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            status = client.open(path, method=method, headers={"Accept": "application/json"}).status_code
            assert status in (401, 403), (method, path, status)
    page = client.get("/wall", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["Location"].startswith("/login")


def test_headers_cookies_and_csrf(app: Flask) -> None:
    client = _client(app)
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "media-src 'self' blob:" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    # No token: refused even with the right password.
    assert client.post("/login", data={"name": "ivan", "password": PASSWORD}).status_code == 403
    signed_in = login(app, "ivan")
    cookie = signed_in.get_cookie("edge_console", domain=HOST)
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    # A cross-site form post with the session cookie but from another origin is refused.
    forged = signed_in.post(f"/cases/{CASE}/export", headers={"Origin": "https://evil.example.com",
                                                                "Sec-Fetch-Site": "cross-site"},
                            data={"csrf_token": _token(signed_in, "/evidence")})
    assert forged.status_code == 403


def test_roles(app: Flask, center: Center) -> None:
    olive, ivan, audrey = (login(app, n) for n in ("olive", "ivan", "audrey"))
    assert olive.get("/wall").status_code == 200
    assert olive.get("/evidence").status_code == 403
    assert olive.get(f"/evidence/{ASKED}/0.mp4").status_code == 403
    assert ivan.get("/wall").status_code == 403 and ivan.get("/access-log").status_code == 403
    assert audrey.get("/access-log").status_code == 200 and audrey.get("/requests").status_code == 403
    for client in (olive, ivan, audrey):
        assert client.get("/devices").status_code == 200 and client.get("/transparency").status_code == 200
    assert ivan.get("/").headers["Location"] == "/evidence"


def test_search_play_and_export_are_each_logged(app: Flask, center: Center, tmp_path: Path) -> None:
    ivan = login(app, "ivan")
    before = len(_actions(center))
    page = ivan.get(f"/evidence?case={CASE}").get_data(as_text=True)
    assert page.count('class="segment"') == 3 and "burglary next door" in page and "approved, 3 segment(s)" in page
    segments = ivan.get(f"/api/evidence/segments?device={ASKED}&case={CASE}").get_json()["segments"]
    assert [s["seq"] for s in segments] == [0, 1, 2]
    # A look is logged under a case only if the segment is footage of that case (door-a's is not).
    assert ivan.get(f"/evidence/{LIVE}/1.mp4?case={CASE}").status_code == 403
    media = ivan.get(f"/evidence/{ASKED}/1.mp4?case={CASE}")
    assert media.status_code == 200 and media.mimetype == "video/mp4"
    with av.open(io.BytesIO(media.data)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5  # the segment's five frames, playable as MP4
    export = ivan.post(f"/cases/{CASE}/export", data={"csrf_token": _token(ivan, "/evidence")})
    assert export.status_code == 200 and export.mimetype == "application/zip"
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(export.data)
    assert bundle_verifier.verify(bundle).ok
    with zipfile.ZipFile(bundle) as archive:
        assert len([n for n in archive.namelist() if n.startswith("sealed/")]) == 3
    new = center.access.entries(limit=len(_actions(center)) - before)[::-1]
    assert [e.action for e in new] == ["search", "view_recorded", "export", "export"]
    look = new[1]
    assert (look.staff, look.device_id, look.case_id, look.segments) == ("ivan", ASKED, CASE, 1)
    assert look.start is not None and look.end is not None and look.end > look.start
    exported = new[2]  # names the device and the window of its footage in the bundle, not only the case
    assert (exported.staff, exported.device_id, exported.case_id, exported.segments) == ("ivan", ASKED, CASE, 3)
    assert (exported.start, exported.end) == (segments[0]["start"], segments[-1]["end"])
    assert "sha256" in new[3].detail
    assert center.access.verify().ok


def test_live_media_only_for_live_devices_and_recent_segments(app: Flask, center: Center) -> None:
    olive = login(app, "olive")
    # door-a's consent is live, but the device never sent a status: it is not online, so not on the wall.
    assert olive.get("/api/live").get_json()["devices"] == []
    assert olive.get(f"/api/live/{LIVE}/segments").get_json() == {"live": False, "segments": []}
    # Its segments are 15 minutes old: evidence, not live footage.
    assert olive.get(f"/live/{LIVE}/0.mp4").status_code == 404


def test_auditor_reads_the_log_and_that_read_is_logged(app: Flask, center: Center) -> None:
    audrey = login(app, "audrey")
    page = audrey.get("/access-log").get_data(as_text=True)
    assert "Chain intact" in page
    assert _actions(center)[-1] == "read_access_log"


def test_login_limits_and_sessions_end_with_the_account(app: Flask, center: Center) -> None:
    client = _client(app, "10.9.9.9")
    token = _token(client)
    for _ in range(FAILS_PER_KEY):
        wrong = client.post("/login", data={"name": "olive", "password": "wrong", "csrf_token": token})
        assert wrong.status_code == 401
    # Now even the right password waits, from this address and for this account from anywhere.
    assert client.post("/login", data={"name": "olive", "password": PASSWORD, "csrf_token": token}).status_code == 429
    other = _client(app, "10.9.9.10")
    assert other.post("/login", data={"name": "olive", "password": PASSWORD,
                                      "csrf_token": _token(other)}).status_code == 429
    refused = [e for e in center.access.entries(action="login_refused", limit=50) if "10.9.9.9" in e.detail]
    assert len(refused) == FAILS_PER_KEY
    # Removing an account ends its sessions at their next request.
    center.staff.add("temp-op", ["operator"], PASSWORD)
    temp = login(app, "temp-op", addr="10.7.7.7")
    assert temp.get("/api/live").status_code == 200
    center.staff.remove("temp-op")
    assert temp.get("/api/live").status_code == 401


def test_export_from_a_center_named_by_a_relative_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``edge-center --dir center console``: the bundle is still found to be sent (Flask would look in its own
    package folder for a relative path), and the exports folder is private."""
    world = make_world(tmp_path)
    monkeypatch.chdir(tmp_path)
    with Center.open(CenterPaths(Path("center"))) as center:
        center.staff.add("ivan", ["investigator"], PASSWORD)
        app = create_app(ConsoleContext(center, frozenset({HOST})))
        ivan = login(app, "ivan")
        export = ivan.post(f"/cases/{CASE}/export", data={"csrf_token": _token(ivan, "/evidence")})
        assert export.status_code == 200 and export.data[:2] == b"PK"
    assert (world.paths.root / "exports").stat().st_mode & 0o777 == 0o700


def test_devices_show_the_neighbours_masking_requests_they_left_open(tmp_path: Path) -> None:
    own = make_world(tmp_path, live_segments=1)
    desk = NeighbourDesk(own.paths)
    desk.new_ask("14 Elm Street", "the driveway")
    desk.new_ask("16 Elm Street", "the garden", ttl_s=30.0, now=time.time() - 40)  # its deadline passed 10 s ago
    desk.dispatch(lambda *_, **__: None, "rtcc/v1", now=time.time() - 20, force=True)  # sent before it
    with own.open() as opened:
        opened.staff.add("olive", ["operator"], PASSWORD)
        app = create_app(ConsoleContext(opened, frozenset({HOST})))
        page = login(app, "olive").get("/devices").get_data(as_text=True)
    rows = re.findall(r'<tr data-device="([^"]+)".*?<td class="masking">(.*?)</td>', page, re.S)
    assert {device: " ".join(cell.split()) for device, cell in rows} == {
        LIVE: '2 open <span class="tag altered">1 past the deadline</span>',
        ASKED: '2 open <span class="tag altered">1 past the deadline</span>',
    }


def test_someone_elses_text_is_shown_without_invisible_characters(app: Flask, center: Center) -> None:
    sneaky = PoliceRequest("r-00000000000000ff", ASKED, "case-center", 1.0, 2.0, "CASE-BIDI",
                           "warrant \u202e6202/24\u200b", "basis\u2066", "0" * 32, 1.0, 2.0)
    center.index.add_request(sneaky, "ivan")
    page = login(app, "ivan").get("/evidence?case=CASE-BIDI").get_data(as_text=True)
    assert "warrant 6202/24" in page
    assert not any(ch in page for ch in "\u202e\u200b\u2066")


@pytest.mark.parametrize("target", ["//evil.example.com/", "/\\evil.example.com", "https://evil.example.com/",
                                    "/evidence?x=//evil"])
def test_sign_in_never_sends_the_browser_elsewhere(app: Flask, target: str) -> None:
    client = _client(app)
    response = client.post("/login", data={"name": "ivan", "password": PASSWORD, "csrf_token": _token(client),
                                           "next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/evidence"


def test_the_wall_follows_presence_and_withdrawal(tmp_path: Path) -> None:
    """A device is on the wall while it is online under a live grant, with its time left; it leaves at the next
    answer when it goes offline or is withdrawn (and its live segments with it)."""
    own = make_world(tmp_path, live_segments=1)

    def status(state: str) -> None:
        body = f'{{"device_id": "{LIVE}", "state": "{state}", "time": {time.time():.3f}}}'.encode()
        assert own.send(LIVE, "status", body) == "accepted"

    with own.open() as opened:
        opened.staff.add("olive", ["operator"], PASSWORD)
        olive = login(create_app(ConsoleContext(opened, frozenset({HOST}))), "olive")

        def wall() -> list[str]:
            return [d["device_id"] for d in olive.get("/api/live").get_json()["devices"]]

        status("online")
        live = olive.get("/api/live").get_json()["devices"]
        assert [d["device_id"] for d in live] == [LIVE] and live[0]["consent"] == "live"
        assert live[0]["live_until"] == pytest.approx(own.t0 + 3600)  # the tile shows the time left from it
        status("offline")
        assert wall() == [] and olive.get(f"/api/live/{LIVE}/segments").get_json()["live"] is False
        status("online")
        assert wall() == [LIVE]
        withdraw_device(own.paths, LIVE)
        assert wall() == [] and olive.get(f"/api/live/{LIVE}/segments").get_json()["live"] is False
