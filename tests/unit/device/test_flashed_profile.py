"""The flashed profile is the device's profile everywhere: the homeowner's commands apply its caps, ``run``
without ``--profile`` runs it, and a flash followed by a reload switches the running agent to what was flashed.

The configuration root is ``$EDGE_AGENT_CONFIG_ROOT`` here (``/etc/edge-agent`` on a device), with a real installer
key; profiles are signed and flashed as a technician does.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.config import profiles
from edge_agent.config.identity import init_identity
from edge_agent.consent.state import OFF_RECORD, ConsentStore, live_record
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import CONFIG_ROOT_ENV, DATA_DIR_ENV, DevicePaths
from edge_agent.device.agent_state import AgentState
from edge_agent.device.daemon import Agent, RunOptions
from tests.unit.device.agent_thread import AgentThread

PROFILE = """
name = "{name}"
[camera]
source = "synthetic"
width = 320
height = 180
fps = 10
detect_width = 160
detect_height = 90
[segment]
seconds = 1
live_seconds = 1
[consent]
max_live_hours = {live_hours}
"""


class Root:
    """A configuration root that trusts one installer key, and a way to sign and flash a profile under it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.key = tmp_path / "keys" / "installer.key"
        self.key.parent.mkdir()
        profiles.keygen(self.key)
        self.path = tmp_path / "etc"
        (self.path / profiles.KEYS_DIR).mkdir(parents=True)
        shutil.copy(self.key.with_name(self.key.name + ".pub"), self.path / profiles.KEYS_DIR / "tech.pub")

    def flash(self, name: str, live_hours: float) -> None:
        work = self.tmp / "work" / f"{name}.toml"
        work.parent.mkdir(exist_ok=True)
        work.write_text(PROFILE.format(name=name, live_hours=live_hours))
        profiles.sign(work, self.key)
        profiles.flash(str(work), self.path)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Root:
    made = Root(tmp_path)
    monkeypatch.setenv(CONFIG_ROOT_ENV, str(made.path))
    return made


@pytest.fixture
def device(tmp_path: Path) -> DevicePaths:
    paths = DevicePaths(tmp_path / "device")
    init_identity(paths, "flashed-device")
    return paths


def test_consent_live_is_capped_by_the_flashed_profile(root: Root, device: DevicePaths,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A flashed profile with ``max_live_hours = 1`` stops ``consent live --for 8h`` (the embedded default
    allows 8 h), and a grant within the cap is taken."""
    root.flash("short-live", live_hours=1)
    assert main(["--data-dir", str(device.root), "consent", "live", "--for", "8h"]) == 2
    assert "cap" in capsys.readouterr().err
    assert ConsentStore(device.consent).current().mode == "off"
    assert main(["--data-dir", str(device.root), "consent", "live", "--for", "30m"]) == 0
    assert ConsentStore(device.consent).current().mode == "live"


def test_run_without_a_profile_runs_the_flashed_one(root: Root, device: DevicePaths) -> None:
    root.flash("flashed-one", live_hours=2)
    assert main(["--data-dir", str(device.root), "run", "--duration", "1", "--fast"]) == 0
    starts = [e for e in AuditLog(device.audit).entries() if e["kind"] == "agent_start"]
    assert [e["profile"] for e in starts] == ["flashed-one"]


def test_a_flash_then_a_reload_runs_what_was_flashed(root: Root, device: DevicePaths) -> None:
    root.flash("first", live_hours=8)
    agent = Agent(RunOptions(data_dir=device.root, profile_root=root.path, duration=60.0))
    with AgentThread(agent) as running:
        running.wait(lambda: agent.summary.frames >= 5)
        now = time.time()
        grant = live_record(now, now + 6 * 3600, OFF_RECORD, 8.0)  # within the first profile's cap
        ConsentStore(device.consent).write(grant)
        root.flash("second", live_hours=1)
        agent.reload_event.set()  # what `profile flash` does to a running agent, through SIGHUP
        running.wait(lambda: any(e["kind"] == "profile_reload" for e in AuditLog(device.audit).entries()))
    reloads = [e for e in AuditLog(device.audit).entries() if e["kind"] == "profile_reload"]
    assert [e["profile"] for e in reloads] == ["second"]
    assert agent.policy.profile.name == "second"
    # The flashed cap applies to the grant in force: it ends an hour after it began.
    assert agent.gate.current().expires_at == pytest.approx(grant.starts_at + 3600)


def _signed(root: Root, name: str) -> Path:
    work = root.tmp / "work" / f"{name}.toml"
    work.parent.mkdir(exist_ok=True)
    work.write_text(PROFILE.format(name=name, live_hours=1))
    profiles.sign(work, root.key)
    return work


def _state(device: DevicePaths, source: str) -> None:
    """What a running agent writes about itself (edge_agent.device.agent_state)."""
    now = time.time()
    state = AgentState(pid=os.getpid(), started_at=now, updated_at=now, profile="by-hand", profile_source=source,
                       camera="online", enrolled=False, broker="", connected=False, sharing=False, delivered=0,
                       refused=0, last_refusal="")
    device.agent_state.write_text(json.dumps(asdict(state)))


def test_flash_uses_the_service_folders_and_is_audited(root: Root, device: DevicePaths,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """No --data-dir and no --root: the data folder and the configuration root the agent uses."""
    monkeypatch.setenv(DATA_DIR_ENV, str(device.root))
    assert main(["profile", "flash", str(_signed(root, "plain"))]) == 0
    assert "flashed profile plain" in capsys.readouterr().out
    assert profiles.load_active_profile(root.path)[0].name == "plain"
    assert [e["profile"] for e in AuditLog(device.audit).entries() if e["kind"] == "profile_flash"] == ["plain"]


def test_flash_says_when_the_running_agent_runs_another_profile(root: Root, device: DevicePaths,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--data-dir", str(device.root), "profile", "flash"]
    _state(device, "/home/pi/my.toml")
    assert main([*base, str(_signed(root, "one"))]) == 0
    assert "the running agent runs /home/pi/my.toml" in capsys.readouterr().out
    _state(device, f"flashed under {root.path}")
    assert main([*base, str(_signed(root, "two"))]) == 0
    assert "the running agent runs" not in capsys.readouterr().out
