"""The center's folder is private from ``keys init`` on: every file 0600 and every folder 0700, whatever the umask
of the shell that ran ``edge-center``; and no command falls back to a broker nobody named."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.center.cli import main as center_main
from edge_agent.center.config import broker_for, load_settings
from edge_agent.center.keys import CenterPaths
from edge_agent.config.identity import init_identity
from edge_agent.config.models import TlsSettings
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import CenterError
from edge_agent.transport.model import InboundMessage
from edge_agent.transport.parts import split_payload
from tests.unit.center.center_helpers import DEVICE, TOPIC, make_bench


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_keys_init_and_devices_add_make_a_private_folder(tmp_path: Path, open_umask: None) -> None:
    center = tmp_path / "center"
    assert center_main(["--dir", str(center), "keys", "init", "--center-id", "perm-center"]) == 0
    device = DevicePaths(tmp_path / "device")
    assert center_main(["--dir", str(center), "devices", "add", str(init_identity(device, "perm-device"))]) == 0
    modes = _modes(center)
    assert modes and all(mode == (0o700 if (center / name).is_dir() else 0o600) for name, mode in modes.items()), modes


def test_everything_the_intake_writes_is_private(tmp_path: Path, open_umask: None) -> None:
    bench = make_bench(tmp_path)
    intake = bench.intake()
    now = time.time()
    grant_id, grant = bench.grant(now - 60, now + 600)
    assert intake.handle(InboundMessage(f"rtcc/v1/{DEVICE}/consent", grant, False)) is not None
    blobs = bench.sealed(3, now - 20, consent_id=grant_id)
    statuses = [intake.handle(InboundMessage(TOPIC, blob, False)) for blob in blobs[:2]]
    for data, props in split_payload(blobs[2], 4096):  # one arrives in parts
        statuses.append(intake.handle(InboundMessage(TOPIC, data, False, props)))
    intake.handle(InboundMessage(TOPIC, b"junk", False))  # a refusal: rejected.jsonl
    intake.handle(InboundMessage(f"rtcc/v1/{DEVICE}/status", b'{"device_id": "unit-device", "state": "online", '
                                 b'"time": %d}' % int(now), False))
    assert [s.status for s in statuses if s is not None].count("stored") == 3
    modes = _modes(bench.center.root)
    for name in ("evidence.jsonl", "rejected.jsonl", f"status/{DEVICE}.json", f"store/{DEVICE}"):
        assert name in modes
    wrong = {name: oct(mode) for name, mode in modes.items()
             if mode != (0o700 if (bench.center.root / name).is_dir() else 0o600)}
    assert wrong == {}


def test_no_broker_is_ever_assumed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    center = tmp_path / "center"
    assert center_main(["--dir", str(center), "keys", "init"]) == 0
    capsys.readouterr()
    paths = CenterPaths(center)
    with pytest.raises(CenterError, match="no broker"):
        broker_for(paths, None, None)
    code = center_main(["--dir", str(center), "request", "some-device", "--start", "2026-11-22T18:00",
                        "--end", "2026-11-22T18:30", "--case", "C-1", "--reason", "burglary"])
    err = capsys.readouterr().err
    assert code == 2 and "no broker" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert center_main(["--dir", str(center), "broker", "set", "mqtt://broker.example:1884"]) == 0
    settings = load_settings(paths)
    assert settings is not None and settings.broker == "mqtt://broker.example:1884"
    assert broker_for(paths, None, None) == ("mqtt://broker.example:1884", None)
    tls = TlsSettings(ca_file="ca.pem")
    assert broker_for(paths, "mqtts://other:8883", tls) == ("mqtts://other:8883", tls)
    assert center_main(["--dir", str(center), "broker", "set", "http://nope"]) == 2


def test_share_workers_need_their_own_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    center = tmp_path / "center"
    assert center_main(["--dir", str(center), "keys", "init"]) == 0
    capsys.readouterr()
    code = center_main(["--dir", str(center), "subscribe", "--broker", "mqtt://127.0.0.1:1", "--share", "g"])
    assert code == 2 and "--worker" in capsys.readouterr().err
