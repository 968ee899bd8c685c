"""The page's locks over HTTP: nothing without pairing, no forged cross-site request, limited login tries."""

from __future__ import annotations

import json
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from edge_agent.consent.masking_inbox import MaskingInbox
from edge_agent.consent.state import ConsentStore
from edge_agent.core.audit import AuditLog
from edge_agent.ui import create_app
from edge_agent.ui.access import CODE_TRIES, FAILS_PER_CLIENT, AccessStore
from edge_agent.ui.context import UiContext
from tests.ui.ui_helpers import masking_request, pair, police_request, token_of

OPEN = {"pair", "pair_submit", "static"}


@pytest.fixture
def app(context: UiContext) -> Flask:
    return create_app(context)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _routes(app: Flask) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN:
            continue
        path = rule.rule.replace("<request_id>", "r-0123456789abcdef")
        out.extend((method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return out


def _client_at(app: Flask, addr: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    return client


def _kinds(context: UiContext) -> list[str]:
    return [e["kind"] for e in AuditLog(context.paths.audit).entries()]


def test_every_page_and_endpoint_refuses_an_unpaired_client(app: Flask, client: FlaskClient) -> None:
    routes = _routes(app)
    assert len(routes) >= 15
    token = token_of(client)  # even a browser that holds a pre-pairing CSRF token gets nothing
    for method, path in routes:
        for accept in ("text/html", "*/*", "image/jpeg"):
            response = client.open(path, method=method, headers={"Accept": accept, "X-CSRF-Token": token},
                                   data={"csrf_token": token})
            assert response.status_code in (303, 401), (method, path, response.status_code)
            assert response.mimetype != "image/jpeg"
            if response.status_code == 303:
                assert response.headers["Location"].endswith("/pair")


def test_forged_cross_site_requests_are_refused(app: Flask, client: FlaskClient, context: UiContext) -> None:
    token = pair(client, context)
    forged = [
        {},  # no token
        {"X-CSRF-Token": "not-the-token"},
        {"X-CSRF-Token": token, "Origin": "http://evil.example"},
        {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
    ]
    for method, path in _routes(app):
        if method != "POST":
            continue
        for headers in forged:
            response = client.post(path, headers=headers, data={"minutes": "30", "decision": "approved"})
            assert response.status_code == 403, (path, headers)
    assert ConsentStore(context.paths.consent).current().mode == "off"
    assert not context.zones.path.exists()
    # The same session with its token does change state.
    response = client.post("/consent/live", data={"minutes": "30", "csrf_token": token},
                           headers={"Origin": "http://localhost"})
    assert response.status_code == 303
    assert ConsentStore(context.paths.consent).current().mode == "live"


def test_session_cookie_is_http_only_and_same_site_strict(client: FlaskClient, context: UiContext) -> None:
    code = AccessStore(context.paths.root).new_code()
    token = token_of(client)
    response = client.post("/pair", data={"code": code.code, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_pairing_code_works_once(app: Flask, context: UiContext) -> None:
    code = AccessStore(context.paths.root).new_code()
    first, second = app.test_client(), app.test_client()
    assert first.post("/pair", data={"code": code.display.lower(), "csrf_token": token_of(first)}).status_code == 303
    assert first.get("/api/status").status_code == 200
    assert second.post("/pair", data={"code": code.display, "csrf_token": token_of(second)}).status_code == 401
    assert second.get("/api/status").status_code == 401
    assert _kinds(context).count("ui_paired") == 1
    assert "ui_login_failed" in _kinds(context)


def test_login_without_csrf_token_is_refused(client: FlaskClient, context: UiContext) -> None:
    code = AccessStore(context.paths.root).new_code()
    assert client.post("/pair", data={"code": code.code}).status_code == 403
    assert client.get("/api/status").status_code == 401


def test_a_code_is_burnt_after_wrong_guesses(app: Flask, context: UiContext) -> None:
    store = AccessStore(context.paths.root)
    code = store.new_code()
    for i in range(CODE_TRIES):
        other = _client_at(app, f"192.168.1.{10 + i}")
        assert other.post("/pair", data={"code": "WRONG-CODE", "csrf_token": token_of(other)}).status_code == 401
    late = app.test_client()
    assert late.post("/pair", data={"code": code.code, "csrf_token": token_of(late)}).status_code == 401
    assert not store.pairing_path.exists()


def test_failed_logins_are_rate_limited_and_audited_once(client: FlaskClient, context: UiContext) -> None:
    token = token_of(client)
    for _ in range(FAILS_PER_CLIENT):
        AccessStore(context.paths.root).new_code()  # a fresh code each time, so that the limiter is what stops it
        assert client.post("/pair", data={"code": "AAAA-AAAA", "csrf_token": token}).status_code == 401
    code = AccessStore(context.paths.root).new_code()
    response = client.post("/pair", data={"code": code.code, "csrf_token": token})
    assert response.status_code == 429
    assert client.get("/api/status").status_code == 401
    entries = list(AuditLog(context.paths.audit).entries())
    refused = [e for e in entries if e["kind"] in ("ui_login_failed", "ui_login_refused")]
    assert [e["kind"] for e in refused] == ["ui_login_failed"]  # once per client and window, not once per try
    assert refused[0]["client"] == "127.0.0.1"
    assert "AAAA" not in context.paths.audit.read_text()  # guesses are never logged
    assert AuditLog(context.paths.audit).verify().ok


def test_password_login(app: Flask, context: UiContext) -> None:
    AccessStore(context.paths.root).set_password("correct horse battery")
    client = app.test_client()
    token = token_of(client)
    assert client.post("/pair", data={"password": "wrong one!!", "csrf_token": token}).status_code == 401
    assert client.post("/pair", data={"password": "correct horse battery", "csrf_token": token}).status_code == 303
    assert client.get("/api/status").status_code == 200


def test_clients_outside_the_local_network_are_refused(app: Flask, context: UiContext) -> None:
    client = _client_at(app, "8.8.8.8")
    assert client.get("/pair").status_code == 403
    assert _client_at(app, "192.168.0.20").get("/pair").status_code == 200


def test_consent_panel_grants_switches_and_revokes(client: FlaskClient, context: UiContext) -> None:
    token = pair(client, context)
    store = ConsentStore(context.paths.consent)
    client.post("/consent/live", data={"minutes": "30", "csrf_token": token})
    record = store.current()
    assert record.is_live_at(time.time())
    assert record.expires_at is not None and 29 * 60 < record.expires_at - time.time() <= 30 * 60
    too_long = client.post("/consent/live", data={"minutes": str(24 * 60), "csrf_token": token},
                           follow_redirects=True)
    assert "exceeds" in too_long.get_data(as_text=True)
    assert store.current() == record
    client.post("/consent/on-request", data={"csrf_token": token})
    assert store.current().mode == "on-request"
    client.post("/consent/revoke", data={"csrf_token": token, "reason": "holiday over"})
    assert store.current().mode == "off"
    changes = [e for e in AuditLog(context.paths.audit).entries() if e["kind"] == "consent_change"]
    assert [e["mode"] for e in changes] == ["live", "on-request", "off"]
    status = client.get("/api/status").get_json()
    assert status["consent"]["state"] == "off"


def test_zones_are_validated_saved_and_audited(client: FlaskClient, context: UiContext) -> None:
    token = pair(client, context)
    headers = {"X-CSRF-Token": token}
    bad = {"zones": [{"name": "hedge", "kind": "neighbour", "coordinates": [[0.1, 0.1], [0.2, 0.2]]}]}
    response = client.post("/api/zones", json=bad, headers=headers)
    assert response.status_code == 400
    assert "zones.0.coordinates" in response.get_json()["error"]
    wrong_kind = {"zones": [{"name": "x", "kind": "garden", "coordinates": [[0, 0], [1, 0], [1, 1]]}]}
    assert client.post("/api/zones", json=wrong_kind, headers=headers).status_code == 400
    assert not context.zones.path.exists()
    good = {"zones": [{"name": "number 12", "kind": "neighbour", "coordinates": [[0.6, 0.1], [0.95, 0.1], [0.9, 0.5]]},
                      {"name": "path", "kind": "own", "coordinates": [[0.1, 0.6], [0.3, 0.6], [0.3, 0.9]]}]}
    assert client.post("/api/zones", json=good, headers=headers).status_code == 200
    saved = json.loads(context.zones.path.read_text())
    assert [z["name"] for z in saved["zones"]] == ["number 12", "path"]
    assert client.get("/api/zones").get_json()["source"] == "homeowner"
    entry = [e for e in AuditLog(context.paths.audit).entries() if e["kind"] == "zones_change"][-1]
    assert entry["count"] == 2 and entry["kinds"] == {"own": 1, "public": 0, "neighbour": 1}
    assert client.post("/zones/confirm-scene", headers=headers).status_code == 200
    assert "scene_confirmed" in _kinds(context)


def test_requests_inbox_approve_and_deny(client: FlaskClient, context: UiContext) -> None:
    token = pair(client, context)
    first = police_request(context, case_id="2025-0417")
    second = police_request(context, case_id="2025-0999", reason="hit and run")
    page = client.get("/requests").get_data(as_text=True)
    assert "2025-0417" in page and "burglary at number 12" in page and "section 94 StPO" in page
    client.post(f"/requests/{first}/answer", data={"decision": "approved", "reason": "glad to help",
                                                   "csrf_token": token})
    client.post(f"/requests/{second}/answer", data={"decision": "denied", "reason": "not my street",
                                                    "csrf_token": token})
    again = client.post(f"/requests/{first}/answer", data={"decision": "denied", "csrf_token": token},
                        follow_redirects=True)
    assert "already approved" in again.get_data(as_text=True)
    answers = {e["request_id"]: e for e in AuditLog(context.paths.audit).entries() if e["kind"] == "request_answered"}
    assert answers[first]["decision"] == "approved" and answers[first]["reason"] == "glad to help"
    assert answers[second]["decision"] == "denied"


def test_audit_page_shows_verification_and_report(client: FlaskClient, context: UiContext) -> None:
    pair(client, context)
    page = client.get("/audit").get_data(as_text=True)
    assert 'data-ok="1"' in page and "ui_paired" in page
    lines = context.paths.audit.read_text().splitlines()
    lines[0] = lines[0].replace('"method":"code"', '"method":"password"')
    context.paths.audit.write_text("\n".join(lines) + "\n")
    page = client.get("/audit").get_data(as_text=True)
    assert 'data-ok="0"' in page and "entry 0" in page


def test_logout_ends_the_session(client: FlaskClient, context: UiContext) -> None:
    token = pair(client, context)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/api/status").status_code == 401


def test_waiting_requests_show_as_a_badge_a_banner_and_in_the_status(client: FlaskClient, context: UiContext) -> None:
    pair(client, context)
    assert client.get("/api/status").get_json()["waiting"]["count"] == 0
    assert 'id="requests-badge"' not in client.get("/consent").get_data(as_text=True)
    request_id = police_request(context, case_id="2026-77")
    waiting = client.get("/api/status").get_json()["waiting"]
    assert waiting["count"] == 1 and waiting["police"] == 1
    assert waiting["items"][0]["id"] == request_id and waiting["items"][0]["label"] == "2026-77"
    page = client.get("/consent").get_data(as_text=True)  # every page, not only the inbox
    assert 'id="requests-badge"' in page and "case 2026-77" in page


def test_a_neighbours_masking_request_is_answered_from_the_page(client: FlaskClient, context: UiContext) -> None:
    token = pair(client, context)
    masked_id = masking_request(context, "14 Elm Street", "the blue house \u202eand its driveway")
    declined_id = masking_request(context, "16 Elm Street", "the garden")
    assert client.get("/api/status").get_json()["waiting"]["masking"] == 2
    page = client.get("/requests").get_data(as_text=True)
    assert "14 Elm Street" in page and "the blue house and its driveway" in page
    assert "Draw a neighbour zone first" not in page  # the profile's neighbour zone is in force
    form = {"csrf_token": token, "decision": "masked", "zone": "street"}
    answer = client.post(f"/masking/{masked_id}/answer", data=form, follow_redirects=True)
    assert "only a neighbour zone masks" in answer.get_data(as_text=True)
    form["zone"] = "neighbour-house"
    client.post(f"/masking/{masked_id}/answer", data=form)
    client.post(f"/masking/{declined_id}/answer", data={"csrf_token": token, "decision": "declined",
                                                       "reason": "not in my view"})
    entries = {e.id: e for e in MaskingInbox(context.paths).entries()}
    assert entries[masked_id].state == "masked" and entries[masked_id].zones == ("neighbour-house",)
    assert entries[declined_id].state == "declined" and entries[declined_id].reason == "not in my view"
    assert client.get("/api/status").get_json()["waiting"]["count"] == 0
    kinds = [e["kind"] for e in AuditLog(context.paths.audit).entries()]
    assert kinds.count("masking_answered") == 2
