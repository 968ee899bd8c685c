"""The systemd units: hardened (exposure at most 2.0) and clean under ``systemd-analyze verify``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = sorted(UNITS_DIR.glob("*.service"))
ANALYZE = shutil.which("systemd-analyze")
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _settings(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _runnable_copy(unit: Path, folder: Path) -> Path:
    """``verify`` refuses an ExecStart that does not exist here: point it at one that does."""
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={shutil.which('true')}", unit.read_text(), flags=re.M)
    copy = folder / unit.name
    copy.write_text(text, encoding="utf-8")
    return copy


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", f"./{unit.name}"], cwd=unit.parent, capture_output=True, text=True, check=False
    )


def test_both_units_exist() -> None:
    assert {u.name for u in UNITS} >= {"edge-agent.service", "edge-center.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_exposure_at_most_2(unit: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "security", "--offline=yes", str(unit)], capture_output=True, text=True, check=False
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_verify_without_warnings(unit: Path, tmp_path: Path) -> None:
    result = _verify(_runnable_copy(unit, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_verify_check_catches_a_bad_setting(tmp_path: Path) -> None:
    """The stderr check is what catches mistakes: verify exits 0 on an unknown key."""
    copy = _runnable_copy(UNITS_DIR / "edge-agent.service", tmp_path)
    copy.write_text(copy.read_text().replace("[Service]\n", "[Service]\nProtectSytem=strict\n"), encoding="utf-8")
    result = _verify(copy)
    assert "ProtectSytem" in result.stderr


def test_agent_unit_shape() -> None:
    s = _settings(UNITS_DIR / "edge-agent.service")
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] and s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["User"] == ["edge-agent"] and s["StateDirectory"] == ["edge-agent"]
    assert s["ProtectSystem"] == ["strict"] and s["CapabilityBoundingSet"] == [""]
    assert s["DevicePolicy"] == ["closed"]
    assert all(d.startswith(("char-video4linux", "char-media", "char-dma_heap")) for d in s["DeviceAllow"])
    assert s["IPAddressDeny"] == ["any"]
    assert "@system-service" in s["SystemCallFilter"]
    assert set(s["RestrictAddressFamilies"][0].split()) <= {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}


def test_center_unit_runs_subscribe_from_environment_file() -> None:
    s = _settings(UNITS_DIR / "edge-center.service")
    assert s["EnvironmentFile"] == ["/etc/edge-center/edge-center.env"]
    exec_start = s["ExecStart"][0]
    assert "edge-center --dir /var/lib/edge-center subscribe --broker ${EDGE_CENTER_BROKER}" in exec_start
    assert s["User"] == ["edge-center"] and s["PrivateDevices"] == ["yes"]


def test_center_unit_bounds_memory_and_tasks() -> None:
    s = _settings(UNITS_DIR / "edge-center.service")
    assert s["MemoryMax"] == ["512M"] and s["TasksMax"] == ["32"]
    assert s["UMask"] == ["0077"] and s["StateDirectoryMode"] == ["0700"]
