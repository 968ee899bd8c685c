"""The command lines: every command described, user mistakes get one line and no traceback, nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.devbroker import free_port
from edge_agent.outbox.spool import Outbox
from tests.integration.spine_helpers import CenterThread, grant_live, make_setup, run_device, wait_for


def _run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], check=False, capture_output=True, text=True, cwd=cwd, timeout=120,
        env=None if env is None else {**os.environ, **env},
    )


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("module", "commands"),
    [
        ("edge_agent", ["keys", "enroll", "run", "status", "consent", "redact", "profile"]),
        ("edge_agent.center", ["keys", "devices", "subscribe", "verify"]),
    ],
)
def test_help_describes_every_command(module, commands):
    proc = _run(module, "--help")
    assert proc.returncode == 0
    for command in commands:
        assert command in proc.stdout
    sub = _run(module, commands[0], "--help")
    assert sub.returncode == 0 and "usage:" in sub.stdout


def test_missing_profile_file_is_one_line(tmp_path):
    proc = _run("edge_agent", "--data-dir", str(tmp_path), "run", "--profile", str(tmp_path / "nope.toml"))
    _assert_one_line_error(proc, "nope.toml", "not found")


def test_malformed_profile_names_file_key_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n\n[camera]\nfps = -3\n')
    proc = _run("edge_agent", "--data-dir", str(tmp_path / "d"), "run", "--profile", str(bad))
    _assert_one_line_error(proc, "bad.toml:4", "camera.fps")


def test_unknown_key_is_refused_not_ignored(tmp_path):
    bad = tmp_path / "typo.toml"
    bad.write_text('name = "x"\n[segment]\nsecondz = 3\n')
    proc = _run("edge_agent", "--data-dir", str(tmp_path / "d"), "run", "--profile", str(bad))
    _assert_one_line_error(proc, "typo.toml", "segment.secondz")


def test_bad_source_is_one_line(tmp_path):
    proc = _run("edge_agent", "--data-dir", str(tmp_path), "run", "--source", str(tmp_path / "missing.mp4"))
    _assert_one_line_error(proc, "missing.mp4")


def test_grant_needs_a_bound_and_respects_the_cap(tmp_path):
    assert _run("edge_agent", "--data-dir", str(tmp_path), "keys", "init").returncode == 0
    _assert_one_line_error(_run("edge_agent", "--data-dir", str(tmp_path), "consent", "live"), "--for")
    _assert_one_line_error(
        _run("edge_agent", "--data-dir", str(tmp_path), "consent", "live", "--for", "3d"), "cap"
    )


def test_run_without_arguments_says_nothing_is_shared(tmp_path):
    # Without --data-dir the agent uses the service's folder ($EDGE_AGENT_DATA_DIR here), never the current one.
    data = tmp_path / "state"
    proc = _run("edge_agent", "run", "--duration", "2", cwd=tmp_path, env={"EDGE_AGENT_DATA_DIR": str(data)})
    assert proc.returncode == 0, proc.stderr
    assert "nothing is shared" in proc.stderr.lower() or "nothing can be shared" in proc.stderr.lower()
    assert (data / "device.pub.json").exists()
    assert not (tmp_path / "edge-data").exists()


@pytest.mark.parametrize("command", [["consent", "revoke"], ["consent", "show"], ["status"], ["requests", "list"],
                                     ["audit", "show"], ["transparency"]])
def test_consent_commands_refuse_a_folder_without_a_device(tmp_path, command):
    """`cd /tmp && edge-agent consent revoke` must not say "OFF" for a device it never saw."""
    elsewhere = tmp_path / "not-a-device"
    proc = _run("edge_agent", *command, cwd=tmp_path, env={"EDGE_AGENT_DATA_DIR": str(elsewhere)})
    _assert_one_line_error(proc, str(elsewhere), "no device")
    assert not elsewhere.exists()  # and nothing was created there


def test_center_errors_are_one_line(tmp_path):
    _assert_one_line_error(_run("edge_agent.center", "--dir", str(tmp_path), "devices", "add", "nope.json"), "nope")
    proc = _run("edge_agent.center", "--dir", str(tmp_path), "subscribe", "--broker", "mqtt://127.0.0.1:1")
    _assert_one_line_error(proc)


def test_unreachable_broker_loses_nothing(tmp_path, mosquitto_factory):
    """The broker is down for the whole first run: segments stay in the outbox and arrive on the next run."""
    port = free_port()
    setup = make_setup(tmp_path, f"mqtt://127.0.0.1:{port}")
    grant_live(setup)
    first = run_device(setup, duration=3.0)
    assert first.shared >= 2 and first.delivered == 0
    spooled = [item.seq for item in Outbox(setup.device.outbox, 1 << 30).pending()]
    assert spooled == list(range(first.shared))
    mosquitto_factory(port=port)
    with CenterThread(setup) as center:
        second = run_device(setup, duration=2.0)
        total = first.shared + second.shared
        assert wait_for(lambda: center.counts["stored"] >= total, timeout=15)
    assert center.counts["stored"] == total and center.counts["rejected"] == 0
    assert Outbox(setup.device.outbox, 1 << 30).pending() == []


def test_unwritable_audit_log_stops_sharing_not_the_agent(tmp_path, mosquitto):
    """Every share is written to the audit log first: when the log cannot be written, nothing is shared."""
    setup = make_setup(tmp_path, mosquitto.url)
    grant_live(setup)
    setup.device.audit.mkdir()  # the log's path is taken: every append fails like a full card
    summary = run_device(setup, duration=3.0)
    assert summary.frames > 0 and summary.segments >= 2  # the agent kept running
    assert summary.shared == 0
    assert Outbox(setup.device.outbox, 1 << 30).pending() == []


def test_a_second_agent_on_one_data_folder_is_refused(tmp_path):
    """One agent per data folder: the second gets one line naming the folder and the first one's pid, and the
    first runs on (its lock, its pid file) untouched."""
    data = tmp_path / "d"
    first = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "--data-dir", str(data), "run", "--source", "synthetic",
         "--duration", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for((data / "agent.pid").exists, timeout=60)
        proc = _run("edge_agent", "--data-dir", str(data), "run", "--source", "synthetic", "--duration", "5")
        _assert_one_line_error(proc, "already running", str(data), str(first.pid))
        assert first.poll() is None
        assert (data / "agent.pid").read_text().strip() == str(first.pid)
    finally:
        first.terminate()
        first.wait(timeout=60)
    assert not (data / "agent.pid").exists()
    # Once it stopped, the folder is free again (a crash frees it too: the kernel drops the lock).
    second = _run("edge_agent", "--data-dir", str(data), "run", "--source", "synthetic", "--duration", "1")
    assert second.returncode == 0, second.stderr
