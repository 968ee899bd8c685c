"""The worst hop-by-hop loss, end to end: the subscriber SIGKILLed, the broker SIGKILLed with the center's queue in
it and restarted empty, the subscriber restarted, all with default options. Shared by the test
(tests/integration/test_repair.py) and the benchmark (bench/repair_run.py).

One run: the agent (a process, live grant, 1 s segments) streams; once the center holds ``before`` segments, the
center is killed; while it is away the broker queues the next segments for its persistent session (the device
has their PUBACKs: they leave its outbox); the broker is killed and restarted with an empty store (so those
segments are gone from every hop); the center is started again. Then the run waits until the center holds every
segment the device shared, or ``timeout`` passes, and counts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.repair import chain_counts
from edge_agent.center.verify import verify_store
from edge_agent.devbroker import MosquittoBroker
from tests.integration.reliability_helpers import REPO, AgentProcess, shared_seqs, stored_records, wait_until
from tests.integration.spine_helpers import Setup, grant_live, make_setup

# A broker that loses everything when it dies: no persistence (and its store emptied before each restart).
BROKER_CONFIG = ("persistence false", "max_queued_messages 100000", "max_queued_bytes 0")


class CenterProcess:
    """``edge-center subscribe`` as its own process, with nothing but ``--broker`` (default options)."""

    def __init__(self, setup: Setup, log_path: Path) -> None:
        self.setup = setup
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.center", "--dir", str(self.setup.center.root), "subscribe",
             "--broker", self.setup.broker_url], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        ready = threading.Event()
        threading.Thread(target=self._log, args=(ready,), daemon=True).start()
        if not ready.wait(timeout):
            raise RuntimeError("the center did not subscribe")

    def _log(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        with open(self.log_path, "ab") as log:
            for line in self.proc.stderr:
                log.write(line)
                if b"subscribed to" in line:
                    log.flush()
                    ready.set()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@dataclass
class RepairRun:
    shared: int  # segments the device's audit log says it shared
    stored: int
    duplicates: int  # evidence lines for a sequence number stored before (must be 0)
    gaps: int  # sequence numbers between 0 and the last shared that the center does not hold
    repaired: int  # gone with the broker (the device had their PUBACKs): the center asked for them again
    withheld: int
    lost: int
    seconds_to_complete: float  # from the center's restart until it held every shared segment (inf: never)
    verified: bool


def _evidence_duplicates(center_root: Path) -> int:
    path = center_root / "evidence.jsonl"
    seqs = [json.loads(line)["seq"] for line in path.read_text().splitlines()] if path.exists() else []
    return len(seqs) - len(set(seqs))


def _settled(setup: Setup, shared: list[int]) -> bool:
    """Every shared segment is stored, or the center knows why not (withheld or lost)."""
    counts = chain_counts(setup.center, "test-device")
    stored = set(stored_records(setup.center.root, "test-device"))
    return stored >= set(shared) or (counts.expected >= len(shared) and counts.missing == 0)


def revoke_now(setup: Setup) -> None:
    subprocess.run([sys.executable, "-m", "edge_agent", "--data-dir", str(setup.device.root), "consent", "revoke",
                    "--profile", str(setup.profile)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                   check=True, capture_output=True, timeout=60)


def _empty(broker: MosquittoBroker) -> None:
    shutil.rmtree(broker.persistence, ignore_errors=True)
    broker.persistence.mkdir()


def run_once(tmp: Path, broker: MosquittoBroker, *, before: int = 3, away: float = 3.0, after: float = 4.0,
             timeout: float = 90.0, meanwhile: str = "") -> RepairRun:
    """One run of about ``before`` + ``away`` + ``after`` seconds of segments, the two kills in the middle.

    ``meanwhile``: ``"revoke"`` (the homeowner revokes consent before the center asks again: what the broker
    lost is withheld, never resent) or ``"restart-device"`` (the agent is SIGKILLed and started again while the
    center repairs)."""
    setup = make_setup(tmp, broker.url)
    grant_live(setup, "1h")
    agent = AgentProcess(setup, tmp / "agent.log")
    center = CenterProcess(setup, tmp / "center.log")
    center.start()
    agent.start()
    try:
        assert wait_until(lambda: len(stored_records(setup.center.root, "test-device")) >= before, 60)
        center.kill()
        time.sleep(away)  # the broker queues these for the center's session; the device has their PUBACKs
        broker.kill()
        _empty(broker)
        time.sleep(1.0)
        broker.start()
        if meanwhile == "revoke":
            revoke_now(setup)
        center.start()
        restarted = time.monotonic()
        if meanwhile == "restart-device":
            time.sleep(2.0)
            agent.kill()
            agent.start()
        time.sleep(after)
        shared = shared_seqs(setup.device)
        complete = wait_until(lambda: _settled(setup, shared), timeout)
        seconds = time.monotonic() - restarted if complete else float("inf")
    finally:
        agent.terminate()
        center.terminate()
    shared = shared_seqs(setup.device)
    # Give the segments sealed while the agent stopped a moment to arrive too.
    wait_until(lambda: _settled(setup, shared), 15)
    stored = stored_records(setup.center.root, "test-device")
    counts = chain_counts(setup.center, "test-device")
    top = max(shared, default=-1)
    return RepairRun(
        shared=len(shared), stored=len(stored), duplicates=_evidence_duplicates(setup.center.root),
        gaps=len(set(range(top + 1)) - set(stored)),
        repaired=counts.repaired, withheld=counts.withheld, lost=counts.lost, seconds_to_complete=seconds,
        verified=verify_store(setup.center).ok,
    )
