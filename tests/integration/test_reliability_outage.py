"""Broker outage in the middle of a live stream: the agent keeps capturing, spools, and delivers everything once.

The agent runs as a real process; the center keeps a persistent session so the broker queues for it too. At the
end the device's ledger (audit ``segment_shared`` entries, chain state) is compared with the center's store.
"""

from __future__ import annotations

import time

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

OUTAGE_S = 30.0
# The center's persistent session must be allowed to queue everything made during the outage.
CENTER_BROKER = ["max_queued_messages 100000", "max_queued_bytes 0"]


def test_broker_outage_loses_nothing_and_doubles_nothing(tmp_path, mosquitto_factory) -> None:
    broker = mosquitto_factory(CENTER_BROKER)
    setup = make_setup(tmp_path, broker.url)
    grant_live(setup, "1h")
    agent = AgentProcess(setup, tmp_path / "agent.log")
    with PersistentCenter(setup) as center:
        agent.start()
        try:
            assert wait_until(lambda: len(evidence_seqs(setup.center.root)) >= 3, 30), _log(tmp_path)
            broker.stop()
            outage_start = time.monotonic()
            stored_before = len(evidence_seqs(setup.center.root))
            time.sleep(OUTAGE_S)
            # While the broker was gone the agent kept capturing, redacting, sealing and spooling.
            spooled = len(outbox_items(setup.device))
            made_during = chain_next_seq(setup.device) - stored_before
            assert spooled >= OUTAGE_S * 0.5, (spooled, _log(tmp_path))
            assert agent.proc is not None and agent.proc.poll() is None
            broker.start()
            outage = time.monotonic() - outage_start
            assert wait_until(lambda: not outbox_items(setup.device), 60), _log(tmp_path)
            catch_up = time.monotonic() - outage_start - outage
        finally:
            rc = agent.terminate()
        assert rc == 0, _log(tmp_path)
        shared = shared_seqs(setup.device)
        assert wait_until(lambda: len(evidence_seqs(setup.center.root)) >= len(shared), 30)
    stored = evidence_seqs(setup.center.root)
    device_id = "test-device"
    # Nothing lost: every segment the device sealed is stored. Nothing doubled: each exactly once.
    assert sorted(stored) == sorted(set(stored)), "a segment was stored twice"
    assert set(shared) <= set(stored)
    assert stored_records(setup.center.root, device_id) == sorted(stored)
    # Delivered in order: the outbox drains oldest first and the session keeps MQTT ordering.
    assert stored == sorted(stored)
    # A clean stop drains the outbox: the ledgers match exactly, with no gap in the sequence numbers.
    assert sorted(stored) == list(range(chain_next_seq(setup.device)))
    assert center.counts["rejected"] == 0
    print(
        f"\nFIGURE outage: {outage:.1f} s broker outage, {made_during} segment(s) made while it was down, "
        f"{spooled} spooled; {len(stored)} stored, 0 lost, 0 duplicated "
        f"(duplicates dropped by the center: {center.counts['duplicate']}); outbox empty {catch_up:.1f} s "
        f"after the broker came back"
    )


def _log(tmp_path) -> str:
    path = tmp_path / "agent.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""
