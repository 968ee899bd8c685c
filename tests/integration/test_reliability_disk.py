"""Disk bounds: the outbox's byte cap evicts the oldest with an audit entry, and a full disk (a real, tiny
filesystem) neither stops the agent nor loses what is already spooled."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.core.audit import AuditLog
from tests.integration.reliability_helpers import (
    AgentProcess,
    PersistentCenter,
    chain_next_seq,
    evidence_seqs,
    outbox_items,
    shared_seqs,
    wait_until,
)
from tests.integration.spine_helpers import Setup, grant_live, make_setup

CENTER_BROKER = ["max_queued_messages 100000", "max_queued_bytes 0"]
MIB = 1 << 20


def _caps(setup: Setup, *, outbox: int | None = None, retention: int | None = None) -> None:
    """Add byte caps to the test profile (1 MiB is the smallest a profile accepts)."""
    text = setup.profile.read_text()
    if outbox is not None:
        text += f"\n[outbox]\nmax_bytes = {outbox}\n"
    if retention is not None:
        text += f"\n[retention]\nmax_bytes = {retention}\n"
    setup.profile.write_text(text)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs: a real filesystem that fills up (root only)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_keeps_the_agent_running(tmp_path: Path, tiny_fs: Path, mosquitto_factory) -> None:
    broker = mosquitto_factory(CENTER_BROKER)
    setup = make_setup(tmp_path, broker.url)
    # Move the device's data folder onto the tiny filesystem.
    device_root = tiny_fs / "device"
    shutil.copytree(setup.device.root, device_root)
    shutil.rmtree(setup.device.root)
    setup.device.root.symlink_to(device_root)
    _caps(setup, retention=MIB)  # local retention shares the card; the outbox's cap (512 MiB) is never reached
    grant_live(setup, "1h")
    agent = AgentProcess(setup, tmp_path / "agent.log")
    broker.stop()
    agent.start()
    log = tmp_path / "agent.log"
    try:
        assert wait_until(lambda: "disk full" in log.read_text(errors="replace"), 60), log.read_text()[-2000:]
        # Something else takes the last bytes too: now even the audit log and the chain state cannot grow.
        filler = _fill(tiny_fs / "filler")
        time.sleep(3)  # a few more segments meet the completely full disk
        assert agent.proc is not None and agent.proc.poll() is None, log.read_text()[-3000:]
        filler.unlink()
        spooled = {int(p.stem) for p in outbox_items(setup.device)}
        assert spooled
        broker.start()
        with PersistentCenter(setup) as center:
            assert wait_until(lambda: spooled <= set(evidence_seqs(setup.center.root)), 60)
            # The drained outbox frees the card: new segments are spooled and delivered again.
            assert wait_until(lambda: len(evidence_seqs(setup.center.root)) >= len(spooled) + 3, 30)
            assert agent.proc.poll() is None
            assert agent.terminate() == 0
            assert wait_until(lambda: set(shared_seqs(setup.device)) <= set(evidence_seqs(setup.center.root)), 30)
    finally:
        agent.ensure_dead()
    stored = evidence_seqs(setup.center.root)
    assert len(stored) == len(set(stored))
    assert center.counts["rejected"] == 0
    assert AuditLog(setup.device.audit).verify().ok
    kinds = [e["kind"] for e in AuditLog(setup.device.audit).entries()]
    assert "outbox_error" in kinds
    print(f"\nFIGURE disk: a 3 MiB filesystem filled while the broker was down; agent kept running; "
          f"{len(spooled)} spooled segment(s) delivered afterwards, {len(stored)} stored, next seq "
          f"{chain_next_seq(setup.device)}")


def _fill(path: Path) -> Path:
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return path


def test_outbox_cap_evicts_the_oldest_with_an_audit_entry(tmp_path: Path, mosquitto_factory) -> None:
    broker = mosquitto_factory(CENTER_BROKER)
    setup = make_setup(tmp_path, broker.url)
    _caps(setup, outbox=MIB)
    grant_live(setup, "1h")
    agent = AgentProcess(setup, tmp_path / "agent.log")
    broker.stop()
    agent.start()
    audit = AuditLog(setup.device.audit)
    try:
        evicted_seen = lambda: [e for e in audit.entries() if e.get("kind") == "outbox_evicted"]  # noqa: E731
        assert wait_until(lambda: len(evicted_seen()) >= 2, 60), (tmp_path / "agent.log").read_text()[-2000:]
        assert sum(p.stat().st_size for p in outbox_items(setup.device)) <= MIB
        broker.start()
        with PersistentCenter(setup) as center:
            assert wait_until(lambda: not outbox_items(setup.device), 60)
            assert agent.terminate() == 0
            assert wait_until(lambda: set(shared_seqs(setup.device)) - {int(e["segment"]) for e in evicted_seen()}
                              <= set(evidence_seqs(setup.center.root)), 30)
    finally:
        agent.ensure_dead()
    evicted = sorted(int(e["segment"]) for e in evicted_seen())
    stored = evidence_seqs(setup.center.root)
    # Oldest first: the broker was down from the start, so every evicted segment is older than every survivor.
    assert not set(evicted) & set(stored)
    survivors = sorted(set(shared_seqs(setup.device)) - set(evicted))
    assert max(evicted) < min(survivors)
    assert sorted(stored) == survivors
    assert center.counts["rejected"] == 0
    print(f"\nFIGURE outbox cap: 1 MiB cap, broker down: {len(evicted)} oldest segment(s) evicted with audit "
          f"entries {evicted}, {len(stored)} delivered, none of the evicted")
