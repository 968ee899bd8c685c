"""Helpers for the page's tests: a paired Flask test client and the CSRF token of a page."""

from __future__ import annotations

import re
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from edge_agent.consent.inbox import Inbox
from edge_agent.consent.masking import make_masking_request
from edge_agent.consent.masking_inbox import MaskingInbox
from edge_agent.consent.requests import make_request
from edge_agent.ui.access import AccessStore
from edge_agent.ui.context import UiContext

TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


def token_of(client: FlaskClient, path: str = "/pair") -> str:
    page = client.get(path, headers={"Accept": "text/html"})
    match = TOKEN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def pair(client: FlaskClient, context: UiContext) -> str:
    """Pairs ``client`` with a fresh one-time code; returns the session's CSRF token."""
    code = AccessStore(context.paths.root).new_code()
    token = token_of(client)
    response = client.post("/pair", data={"code": code.display, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)
    return token_of(client, "/")


def police_request(context: UiContext, case_id: str = "2025-0417", reason: str = "burglary at number 12") -> str:
    """A real signed request, checked into the inbox the way the daemon does it; returns its id."""
    key = Ed25519PrivateKey.generate()
    now = time.time()
    _, wire = make_request(key, device_id="dev-test", center_id="center-test", start=now - 1800, end=now - 1200,
                           case_id=case_id, reason=reason, legal_basis="warrant 17/2025, section 94 StPO", now=now)
    entry = Inbox(context.paths).receive(wire, center_key=key.public_key(), device_id="dev-test",
                                         max_window_hours=2.0, mode="on-request", now=now)
    return str(entry.id)


def masking_request(context: UiContext, prop: str = "14 Elm Street", description: str = "the driveway") -> str:
    """A real signed masking request, checked into the device's inbox as the agent does; returns its id."""
    key = Ed25519PrivateKey.generate()
    now = time.time()
    _, wire = make_masking_request(key, device_id="dev-test", center_id="center-test", property=prop,
                                   description=description, area="Elm St north", now=now)
    inbox = MaskingInbox(context.paths)
    request = inbox.authentic(wire, key.public_key(), "dev-test", now)
    assert request is not None
    return inbox.accept(request, now).id
