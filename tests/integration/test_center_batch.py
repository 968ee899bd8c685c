"""Group commit over a real Mosquitto: the center acknowledges a segment only once it is durable.

A center whose file system cannot make a batch durable acknowledges none of it, so the broker delivers every
message again to the same persistent session; once acknowledged, nothing comes back. Workers on one shared
subscription store every segment exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.center import ingest
from edge_agent.center.subscriber import SubscribeOptions, run_subscriber
from edge_agent.center.verify import verify_store
from edge_agent.devbroker import MosquittoBroker
from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.topics import Topics
from tests.unit.center.center_helpers import DEVICE, Bench, make_bench

PREFIX = "rtcc/v1"


class Center:
    """``run_subscriber`` in a thread, as ``edge-center subscribe`` runs it."""

    def __init__(self, bench: Bench, broker: str, *, client_id: str | None = None, share: str | None = None,
                 worker: str = "main") -> None:
        self.counts: Counter[str] = Counter()
        self.stop = threading.Event()
        options = SubscribeOptions(broker=broker, client_id=client_id, share_group=share, worker=worker)
        self.thread = threading.Thread(
            target=run_subscriber, args=(bench.center, options, self.stop, self.counts), daemon=True
        )

    def __enter__(self) -> Center:
        self.thread.start()
        time.sleep(0.5)  # the subscriptions reach the broker
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()


def _wait(predicate: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.05)
    return False


def _publish(broker: str, bench: Bench, count: int) -> None:
    now = time.time()
    consent_id, doc = bench.grant(now - 60, now + 600)
    link = MqttLink(broker, client_id="test-device-pub", max_inflight=50)
    link.connect()
    try:
        topics = Topics(PREFIX, DEVICE)
        results = [link.publish(topics.consent, doc, qos=1, retain=True, content_type="application/json")]
        results += [link.publish(topics.segments, blob, qos=1) for blob in bench.sealed(count, now - 30, consent_id)]
        for result in results:
            assert result.wait(20.0)
    finally:
        link.stop()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    yield make_bench(tmp_path)


def test_unsynced_batches_are_redelivered_then_acknowledged(
    mosquitto: MosquittoBroker, bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 6
    # The disk cannot make anything durable: files are written, but no batch is ever acknowledged.
    def broken_sync(path: Path, written: object = (), *, use_syncfs: bool = True) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(ingest, "sync_filesystem", broken_sync)
        with Center(bench, mosquitto.url, client_id="center-a") as first:
            _publish(mosquitto.url, bench, count)
            assert _wait(lambda: first.counts["stored"] == count)

    # Same persistent session, working disk: the broker delivers all of them again (already on disk here,
    # so they count as duplicates) and this time they are acknowledged.
    with Center(bench, mosquitto.url, client_id="center-a") as second:
        assert _wait(lambda: second.counts["duplicate"] == count)
    assert second.counts["stored"] == 0

    # Acknowledged: nothing comes back.
    with Center(bench, mosquitto.url, client_id="center-a") as third:
        time.sleep(1.5)
    assert third.counts["duplicate"] == third.counts["stored"] == 0
    report = verify_store(bench.center)
    assert report.ok and f"{DEVICE}: {count} segment(s) checked, 0 gap(s) in the chain" in report.lines


def test_shared_workers_store_each_segment_once(mosquitto: MosquittoBroker, bench: Bench) -> None:
    count = 24
    with Center(bench, mosquitto.url, share="g", worker="a") as a, \
            Center(bench, mosquitto.url, share="g", worker="b") as b:
        _publish(mosquitto.url, bench, count)
        assert _wait(lambda: a.counts["stored"] + b.counts["stored"] == count)
    assert a.counts["stored"] > 0 and b.counts["stored"] > 0
    evidence = (bench.center.root / "evidence.jsonl").read_text().splitlines()
    assert len(evidence) == count
    assert sorted(int(p.stem) for p in (bench.center.store / DEVICE).glob("*.json")) == list(range(count))
    assert verify_store(bench.center).ok
