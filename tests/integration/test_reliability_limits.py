"""Oversized messages: segments above the broker's maximum packet size are split and reassembled end to end, and
a broker that refuses a message (PUBACK 149 from Mosquitto's message_size_limit) makes the agent set it aside
once instead of resending it after every reconnect."""

from __future__ import annotations

import os
import re
from pathlib import Path

from edge_agent.outbox.drain import OutboxPublisher
from edge_agent.outbox.spool import REJECTED, Outbox
from edge_agent.transport.mqtt import MqttLink
from tests.integration.reliability_helpers import (
    AgentProcess,
    PersistentCenter,
    chain_next_seq,
    evidence_seqs,
    outbox_items,
    wait_until,
)
from tests.integration.spine_helpers import grant_live, make_setup

PACKET = 16 * 1024


def test_segments_larger_than_the_broker_allows_arrive_whole(tmp_path: Path, mosquitto_factory) -> None:
    broker = mosquitto_factory([f"max_packet_size {PACKET}", "max_queued_messages 100000"])
    setup = make_setup(tmp_path, broker.url)
    grant_live(setup, "1h")
    agent = AgentProcess(setup, tmp_path / "agent.log")
    with PersistentCenter(setup) as center:
        agent.start()
        try:
            assert wait_until(lambda: len(evidence_seqs(setup.center.root)) >= 4, 40)
        finally:
            assert agent.terminate() == 0
        assert wait_until(lambda: not outbox_items(setup.device)
                          and len(evidence_seqs(setup.center.root)) == chain_next_seq(setup.device), 20)
    log = (tmp_path / "agent.log").read_text()
    sizes = [int(p.stat().st_size) for p in (setup.center.store / "test-device").glob("*.sealed")]
    assert min(sizes) > PACKET  # every segment had to be split
    assert sorted(evidence_seqs(setup.center.root)) == list(range(chain_next_seq(setup.device)))
    assert center.counts["rejected"] == 0 and center.counts["errors"] == 0
    drops = [line for line in log.splitlines() if "disconnected from" in line and "Normal disconnection" not in line]
    assert drops == []  # never dropped for size
    assert f"max packet size {PACKET}" in log
    assert "too large" not in broker.log_text().lower()


def test_a_refused_message_is_set_aside_not_resent_forever(tmp_path: Path, mosquitto_factory) -> None:
    broker = mosquitto_factory(["message_size_limit 8192"])  # not advertised: the broker answers PUBACK 149
    outbox = Outbox(tmp_path / "outbox", 1 << 24)
    topic = "rtcc/v1/door-1/segments"
    outbox.put(1, topic, "c", b"a" * 100)
    outbox.put(2, topic, "c", os.urandom(20_000))
    outbox.put(3, topic, "c", b"c" * 100)
    link = MqttLink(broker.url, client_id="door-1")
    publisher = OutboxPublisher(outbox, link)
    link.connect()
    publisher.start()
    try:
        assert wait_until(lambda: not outbox.pending(), 20)
        assert link.connected
    finally:
        publisher.stop()
        link.stop()
    assert publisher.sent_count == 2 and publisher.rejected_count == 1
    assert [p.name for p in (tmp_path / "outbox" / REJECTED).iterdir()] == ["00000000000000000002.item"]
    big = re.findall(r"PUBLISH from door-1 .*\(20000 bytes\)", broker.log_text())
    assert len(big) == 1, broker.log_text()[-2000:]  # sent once, refused once
