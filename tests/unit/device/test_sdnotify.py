"""sd_notify against a fake notify socket: what systemd would receive, byte for byte."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.device.sdnotify import Notifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify"
    if len(str(path)) > 100:  # AF_UNIX paths are limited to 108 bytes
        pytest.skip("temporary path too long for a unix socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield str(path), sock
    sock.close()


def _received(sock: socket.socket) -> list[str]:
    out = []
    sock.settimeout(0.1)
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            return out


def test_ready_status_stopping(notify_socket) -> None:
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    notifier.ready("sharing: live until 14:00")
    notifier.status("camera degraded")
    notifier.stopping()
    assert _received(sock) == ["READY=1\nSTATUS=sharing: live until 14:00", "STATUS=camera degraded", "STOPPING=1"]


def test_abstract_socket() -> None:
    name = f"edge-agent-sdnotify-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        sock.settimeout(2)
        assert sock.recv(100) == b"READY=1"


def test_watchdog_pings_at_most_every_half_period(notify_socket) -> None:
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"})  # 10 s: ping every 5 s
    assert notifier.watchdog_interval == 5.0
    for t in (100.0, 101.0, 104.9, 105.0, 107.0, 110.0):
        notifier.watchdog(now=t)
    assert _received(sock) == ["WATCHDOG=1"] * 3  # at 100, 105 and 110


@pytest.mark.parametrize("usec", ["", "0", "-5", "abc", "²"])
def test_no_watchdog_without_a_valid_period(notify_socket, usec: str) -> None:
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": usec})
    notifier.watchdog(now=1000.0)
    assert notifier.watchdog_interval is None
    assert _received(sock) == []


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    notifier.ready()
    notifier.watchdog(now=1.0)


def test_a_missing_socket_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, logger="edge_agent.device.sdnotify"):
        assert notifier.send("READY=1") is False
    assert "sd_notify failed" in caplog.text


def test_watchdog_meant_for_another_process_is_left_alone(notify_socket) -> None:
    path, sock = notify_socket
    other = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    other.watchdog(now=100.0)
    assert other.watchdog_interval is None
    mine = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())})
    mine.watchdog(now=100.0)
    assert _received(sock) == ["WATCHDOG=1"]
