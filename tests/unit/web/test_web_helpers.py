"""The web helpers both faces use: the login limiter, password hashes, the Host allow-list."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.core.passwords import check_password, hash_password
from edge_agent.web.guard import host_allowed, host_name
from edge_agent.web.limiter import LoginLimiter
from edge_agent.web.serving import WebServer

FAST = {"n": 1 << 10, "r": 8, "p": 1}


def test_limiter_counts_each_key_and_the_total() -> None:
    now = [0.0]
    limiter = LoginLimiter(lambda: now[0], window=100.0, per_key=3, total=5)
    for _ in range(3):
        limiter.failed("10.0.0.1", "user:alice")
    assert limiter.retry_after("10.0.0.1") == pytest.approx(100.0)
    assert limiter.retry_after("10.0.0.2", "user:alice") == pytest.approx(100.0)  # the account is locked too
    assert limiter.retry_after("10.0.0.2", "user:bob") == 0.0
    limiter.failed("10.0.0.3")
    limiter.failed("10.0.0.4")
    assert limiter.retry_after("10.0.0.9") == pytest.approx(100.0)  # five failures from anywhere: everyone waits
    now[0] = 100.5
    assert limiter.retry_after("10.0.0.1", "user:alice") == 0.0


def test_password_hash_round_trip_and_refusals() -> None:
    stored = hash_password("correct horse battery", FAST)
    assert stored["scrypt"] == FAST
    assert check_password(stored, "correct horse battery")
    assert not check_password(stored, "correct horse batterY")
    assert not check_password(stored, "")
    assert not check_password({"salt": "!!", "hash": "x"}, "anything")
    assert not check_password({}, "anything")
    # A fresh salt each time: the same password never hashes the same.
    assert hash_password("correct horse battery", FAST)["hash"] != stored["hash"]


@pytest.mark.parametrize(
    ("header", "name"),
    [("console.example.org", "console.example.org"), ("Console.Example.org:8090", "console.example.org"),
     ("127.0.0.1:8090", "127.0.0.1"), ("[::1]:8090", "::1"), ("[::1]", "::1"), ("::1", "::1")],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_host_allow_list() -> None:
    allowed = ["console.example.org", "127.0.0.1"]
    assert host_allowed("console.example.org:443", allowed)
    assert not host_allowed("evil.example.com", allowed)
    assert not host_allowed("console.example.org.evil.com", allowed)
    assert not host_allowed("", allowed)


@given(st.text(max_size=80))
def test_host_name_never_raises(header: str) -> None:
    assert isinstance(host_allowed(header, ["localhost"]), bool)


def test_a_port_in_use_is_an_os_error_not_an_exit() -> None:
    app = Flask("probe")
    first = WebServer(app, "127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="in use"):
            WebServer(app, "127.0.0.1", first.port)
    finally:
        first.stop()
