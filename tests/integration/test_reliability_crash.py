"""SIGKILL at random moments, over and over: the outbox is never corrupt, nothing acknowledged is lost, and the
center ends with every shared segment exactly once.

With 1 s live segments at 10 fps the agent cuts, seals, spools and publishes a segment every second, so kills
spread over 1-5 s after start land during start-up, redaction, segment rotation, outbox writes and publishing.
Every third run has no broker, so that the next run is killed while draining a backlog.
"""

from __future__ import annotations

import os
import random
import time

from edge_agent.core.audit import AuditLog
from edge_agent.outbox.spool import QUARANTINE, Outbox
from tests.integration.reliability_helpers import (
    AgentProcess,
    PersistentCenter,
    chain_next_seq,
    evidence_seqs,
    outbox_items,
    shared_seqs,
    stored_records,
    wait_until,
)
from tests.integration.spine_helpers import grant_live, make_setup

KILLS = 22
CENTER_BROKER = ["max_queued_messages 100000", "max_queued_bytes 0"]


def _check_outbox(outbox_dir: os.PathLike[str]) -> int:
    """Every item left behind by a killed agent is whole: it parses and its checksum matches."""
    outbox = Outbox(outbox_dir, 1 << 40)  # type: ignore[arg-type]
    items = outbox.pending()
    for item in items:
        outbox.read(item)  # raises (and quarantines) on a torn or corrupt item
    return len(items)


def test_sigkill_at_random_moments(tmp_path, mosquitto_factory) -> None:
    seed = int(os.environ.get("EDGE_CRASH_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    broker = mosquitto_factory(CENTER_BROKER)
    setup = make_setup(tmp_path, broker.url)
    grant_live(setup, "1h")
    log_path = tmp_path / "agent.log"
    agent = AgentProcess(setup, log_path)
    kills_with_items = 0
    with PersistentCenter(setup) as center:
        try:
            for cycle in range(KILLS):
                # Every third run has no broker, so that the next one starts with a backlog and is killed while
                # publishing a burst (in-flight items are then resent and the center drops the duplicates).
                offline = cycle % 3 == 1
                if offline:
                    broker.stop()
                agent.start()
                time.sleep(rng.uniform(1.0, 5.0))
                agent.kill()
                if offline:
                    broker.start()
                kills_with_items += _check_outbox(setup.device.outbox) > 0
                assert AuditLog(setup.device.audit).verify().ok
            acknowledged = set(shared_seqs(setup.device))
            # One last, clean run delivers whatever the kills left in the outbox.
            agent.start()
            assert wait_until(lambda: not outbox_items(setup.device) and len(shared_seqs(setup.device))
                              > len(acknowledged), 60), log_path.read_text()[-3000:]
            assert agent.terminate() == 0
        finally:
            agent.ensure_dead()
        shared = shared_seqs(setup.device)
        assert wait_until(lambda: set(shared) <= set(evidence_seqs(setup.center.root)), 30)
    stored = evidence_seqs(setup.center.root)
    next_seq = chain_next_seq(setup.device)
    assert not (setup.device.outbox / QUARANTINE).exists(), "a killed agent left a corrupt outbox item"
    assert len(stored) == len(set(stored)), "a segment was stored twice"
    assert acknowledged <= set(stored), "a segment acknowledged into the outbox was lost"
    assert set(shared) <= set(stored)
    assert stored_records(setup.center.root, "test-device") == sorted(stored)
    # Only a kill between writing the chain state and the outbox put leaves a gap; never a reused number.
    gaps = sorted(set(range(next_seq)) - set(stored))
    assert len(gaps) <= KILLS
    assert center.counts["rejected"] == 0, center.counts
    print(
        f"\nFIGURE crash: {KILLS} SIGKILLs (seed {seed}), {kills_with_items} with items waiting in the outbox; "
        f"{len(stored)} stored exactly once, {len(shared)} shared per the audit log, 0 lost, "
        f"{center.counts['duplicate']} resent duplicate(s) dropped by the center, "
        f"{len(gaps)} sequence gap(s) {gaps}, 0 corrupt outbox items"
    )
