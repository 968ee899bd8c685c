"""Helpers for the reliability tests: the agent as a real process, a center with a persistent session, and
the two ledgers compared at the end (what the device shared, what the center stored)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge_agent.config.models import TlsSettings
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from tests.integration.spine_helpers import CenterThread, Setup

REPO = Path(__file__).resolve().parents[2]


class AgentProcess:
    """``python -m edge_agent run`` as a child process, as systemd would run it."""

    def __init__(self, setup: Setup, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.setup = setup
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.extra_env}
        cmd = [sys.executable, "-m", "edge_agent", "--data-dir", str(self.setup.device.root), "run",
               "--profile", str(self.setup.profile), "--source", "synthetic"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 40.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class PersistentCenter(CenterThread):
    """The center's subscriber with a persistent session (the broker queues for it while it is away)."""

    def __init__(self, setup: Setup, broker_url: str | None = None, tls: TlsSettings | None = None,
                 client_id: str = "center-1") -> None:
        super().__init__(setup, broker_url=broker_url, tls=tls, client_id=client_id)


def evidence_seqs(center_root: Path) -> list[int]:
    """Sequence numbers in the center's evidence log, in the order they were stored."""
    path = center_root / "evidence.jsonl"
    if not path.exists():
        return []
    return [int(json.loads(line)["seq"]) for line in path.read_text().splitlines() if line.strip()]


def stored_records(center_root: Path, device_id: str) -> list[int]:
    folder = center_root / "store" / device_id
    return sorted(int(p.stem) for p in folder.glob("*.json")) if folder.exists() else []


def shared_seqs(device: DevicePaths) -> list[int]:
    """Sequence numbers the device's audit log says were sealed into the outbox."""
    if not device.audit.exists():
        return []
    return [int(e["segment"]) for e in AuditLog(device.audit).entries() if e.get("kind") == "segment_shared"]


def outbox_items(device: DevicePaths) -> list[Path]:
    return sorted(device.outbox.glob("*.item")) if device.outbox.exists() else []


def chain_next_seq(device: DevicePaths) -> int:
    return int(json.loads(device.state.read_text())["next_seq"]) if device.state.exists() else 0


def wait_until(predicate: object, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(step)
    return False
