"""The homeowner is told: requests waiting for an answer show in ``edge-agent status``, until answered or expired."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.cli import main
from edge_agent.config.identity import init_identity
from edge_agent.consent import api
from edge_agent.consent.inbox import Inbox
from edge_agent.consent.requests import make_request
from edge_agent.core.paths import DevicePaths


def _request(paths: DevicePaths, key: Ed25519PrivateKey, case_id: str, now: float, ttl_s: float = 3600.0) -> str:
    _, wire = make_request(key, device_id="dev-told", center_id="c-1", start=now - 900, end=now - 300,
                           case_id=case_id, reason="a burglary", ttl_s=ttl_s, now=now)
    entry = Inbox(paths).receive(wire, center_key=key.public_key(), device_id="dev-told", max_window_hours=2.0,
                                 mode="on-request", now=now)
    return entry.id


def test_status_names_each_waiting_request_until_it_is_answered(tmp_path, capsys: pytest.CaptureFixture[str]):
    paths = DevicePaths(tmp_path / "data")
    init_identity(paths, "dev-told")
    key = Ed25519PrivateKey.generate()
    now = time.time()
    assert main(["--data-dir", str(paths.root), "status"]) == 0
    assert "waiting for your answer: nothing" in capsys.readouterr().out
    first = _request(paths, key, "CASE-\u202e1", now)
    second = _request(paths, key, "CASE-2", now + 1)
    _request(paths, key, "CASE-OLD", now - 7200, ttl_s=600.0)  # accepted then, expired now: not waiting
    assert [item.id for item in api.waiting(paths)] == [first, second]
    assert main(["--data-dir", str(paths.root), "status"]) == 0
    out = capsys.readouterr().out
    assert "WAITING FOR YOUR ANSWER: 2 request(s)" in out
    assert f"{first}  police request case CASE-1: answer by" in out  # the bidi override is not shown
    assert "CASE-OLD" not in out
    api.deny_request(paths, first, "no")
    assert main(["--data-dir", str(paths.root), "status"]) == 0
    out = capsys.readouterr().out
    assert "1 request(s)" in out and first not in out and second in out
