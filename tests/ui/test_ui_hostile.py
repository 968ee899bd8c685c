"""The page against a hostile local network: DNS rebinding, login floods, stolen cookies, deceptive request texts."""

from __future__ import annotations

import socket

import pytest
from flask import Flask

from edge_agent.cli import main as cli_main
from edge_agent.core.audit import AuditLog
from edge_agent.ui import create_app
from edge_agent.ui.access import AUDITED_CLIENTS, WINDOW, AccessStore, LoginLimiter
from edge_agent.ui.context import UiContext
from edge_agent.ui.hosts import HostCheck, holds_address, host_name
from tests.ui.ui_helpers import pair, police_request, token_of

REBOUND = "rebind.attacker.example"


@pytest.fixture
def app(context: UiContext) -> Flask:
    return create_app(context)


def _kinds(context: UiContext) -> list[str]:
    return [e["kind"] for e in AuditLog(context.paths.audit).entries()]


def test_a_dns_rebinding_page_cannot_reach_pairing_or_burn_the_code(app: Flask, context: UiContext) -> None:
    store = AccessStore(context.paths.root)
    code = store.new_code()
    rebound = app.test_client()
    headers = {"Host": f"{REBOUND}:8080", "Accept": "text/html"}
    assert rebound.get("/pair", headers=headers).status_code == 421
    assert rebound.get("/static/ui.css", headers=headers).status_code == 421
    for _ in range(10):  # more than CODE_TRIES wrong guesses: none reaches the code
        response = rebound.post("/pair", data={"code": "WRONG-CODE"}, headers=headers)
        assert response.status_code == 421
    assert store.pairing_path.exists()
    homeowner = app.test_client()  # Host: localhost
    assert homeowner.post("/pair", data={"code": code.display, "csrf_token": token_of(homeowner)}).status_code == 303
    assert "ui_login_failed" not in _kinds(context)


def test_the_page_answers_to_the_devices_own_names_and_addresses(app: Flask, context: UiContext) -> None:
    client = app.test_client()
    short = socket.gethostname().lower()
    for host in ("localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", f"{short}.local:8080", short):
        assert client.get("/pair", headers={"Host": host}).status_code == 200, host
    for host in (REBOUND, "192.0.2.7:8080", "0.0.0.0:8080", "", "[::1", f"{short}.attacker.example"):
        assert client.get("/pair", headers={"Host": host}).status_code in (400, 421), host


def test_a_name_from_the_profile_is_accepted(context: UiContext) -> None:
    ui = context.profile.ui.model_copy(update={"hosts": ["doorbell.home.arpa"]})
    context.profile = context.profile.model_copy(update={"ui": ui})
    client = create_app(UiContext(context.paths, context.profile, None)).test_client()
    assert client.get("/pair", headers={"Host": "doorbell.home.arpa:8080"}).status_code == 200
    assert client.get("/pair", headers={"Host": REBOUND}).status_code == 421


def test_host_check_parts() -> None:
    assert host_name("[fe80::1]:8080") == "fe80::1"
    assert host_name("Door.Local.:80") == "door.local"
    assert host_name("::1") == "::1"
    assert holds_address("127.0.0.1") and holds_address("::1")
    assert not holds_address("192.0.2.7") and not holds_address("0.0.0.0") and not holds_address("not an ip")
    now = [0.0]
    calls: list[str] = []

    def holds(address: str) -> bool:
        calls.append(address)
        return address == "10.1.2.3"

    check = HostCheck(clock=lambda: now[0], holds=holds)
    assert check.allowed("10.1.2.3:8080") and check.allowed("10.1.2.3")
    assert calls == ["10.1.2.3"]  # cached
    now[0] = 61.0
    assert check.allowed("10.1.2.3") and calls == ["10.1.2.3", "10.1.2.3"]  # checked again: DHCP moves addresses


def test_a_login_flood_adds_one_audit_entry_per_client_and_window(context: UiContext) -> None:
    now = [1000.0]
    context.limiter = LoginLimiter(clock=lambda: now[0])
    app = create_app(context)
    client = app.test_client()
    token = token_of(client)
    before = len(_kinds(context))
    for _ in range(2000):
        assert client.post("/pair", data={"code": "AAAA-AAAA", "csrf_token": token}).status_code in (401, 429)
    added = _kinds(context)[before:]
    assert added == ["ui_login_failed"]
    for i in range(AUDITED_CLIENTS + 10):  # many addresses: still bounded
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = f"192.168.7.{i + 1}"
        other.post("/pair", data={"code": "AAAA-AAAA", "csrf_token": token_of(other)})
    refused = [k for k in _kinds(context)[before:] if k.startswith("ui_login_")]
    assert len(refused) == AUDITED_CLIENTS
    now[0] += WINDOW + 1  # a new window: the same client is written down again, once
    for _ in range(50):
        client.post("/pair", data={"code": "AAAA-AAAA", "csrf_token": token})
    refused = [k for k in _kinds(context)[before:] if k.startswith("ui_login_")]
    assert len(refused) == AUDITED_CLIENTS + 1
    assert AuditLog(context.paths.audit).verify().ok


def test_signing_out_revokes_the_session_on_the_device(app: Flask, context: UiContext) -> None:
    client = app.test_client()
    token = pair(client, context)
    stolen = client.get_cookie("edge_session")
    assert stolen is not None
    assert client.get("/api/status").status_code == 200
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    replay = app.test_client()
    replay.set_cookie("edge_session", stolen.value)
    assert replay.get("/api/status").status_code == 401
    assert replay.get("/", headers={"Accept": "text/html"}).status_code == 303
    assert AccessStore(context.paths.root).sessions.count() == 0


def test_unpair_ends_every_session_without_a_restart(app: Flask, context: UiContext) -> None:
    first, second = app.test_client(), app.test_client()
    pair(first, context)
    pair(second, context)
    assert AccessStore(context.paths.root).sessions.count() == 2
    assert cli_main(["--data-dir", str(context.paths.root), "ui", "unpair"]) == 0
    assert first.get("/api/status").status_code == 401
    assert second.get("/api/status").status_code == 401


def test_request_texts_lose_bidirectional_and_control_characters(app: Flask, context: UiContext,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    deceptive = "warrant \u202e6202/24\u202c, signed \u2066judge\u2069\u200b"
    request_id = police_request(context, case_id="case\u202e71", reason=deceptive)
    client = app.test_client()
    pair(client, context)
    html = client.get("/requests").get_data(as_text=True)
    assert "warrant 6202/24, signed judge" in html
    assert "case71" in html
    for ch in ("\u202e", "\u202c", "\u2066", "\u2069", "\u200b"):
        assert ch not in html
    assert cli_main(["--data-dir", str(context.paths.root), "keys", "init", "--device-id", "dev-test"]) == 0
    assert cli_main(["--data-dir", str(context.paths.root), "requests", "show", request_id]) == 0
    out = capsys.readouterr().out
    assert "warrant 6202/24, signed judge" in out and "\u202e" not in out
    # Stored as received: the signed document still verifies and says what the center signed.
    stored = (context.paths.root / "requests" / f"{request_id}.json").read_text()
    assert "\\u202e" in stored or "\u202e" in stored
