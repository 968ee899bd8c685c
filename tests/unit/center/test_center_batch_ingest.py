"""Group commit: every message of a batch is handled, then synced once, and only then acknowledged."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edge_agent.center.batching import BatchIngest
from edge_agent.transport.model import InboundMessage
from tests.unit.center.center_helpers import DEVICE, TOPIC, make_bench


def _msg(mid: int, payload: bytes = b"x") -> InboundMessage:
    return InboundMessage(topic=f"t/{mid}", payload=payload, retain=False, mid=mid)


class Journal:
    """Records the order of handle / sync / ack events."""

    def __init__(self, fail_sync: int = 0, fail_handle: frozenset[int] = frozenset(),
                 unanswered: frozenset[int] = frozenset()) -> None:
        self.events: list[tuple[str, int]] = []
        self.fail_sync = fail_sync
        self.fail_handle = fail_handle
        self.unanswered = unanswered

    def handle(self, msg: InboundMessage) -> str | None:
        if msg.mid in self.fail_handle:
            raise RuntimeError("handler bug")
        self.events.append(("handle", msg.mid))
        return None if msg.mid in self.unanswered else "answered"

    def sync(self) -> None:
        self.events.append(("sync", 0))
        if self.fail_sync:
            self.fail_sync -= 1
            raise OSError(5, "I/O error")

    def ack(self, msg: InboundMessage) -> bool:
        self.events.append(("ack", msg.mid))
        return True


def _run(batches: BatchIngest, messages: list[InboundMessage]) -> None:
    for m in messages:
        batches.put(m)
    batches.close()
    batches.run()  # returns once everything queued before close is committed


def test_queued_messages_form_one_batch_synced_before_any_ack() -> None:
    journal = Journal()
    batches = BatchIngest(journal.handle, journal.sync, journal.ack, window_s=60.0)
    _run(batches, [_msg(i) for i in range(1, 6)])
    assert journal.events == [*(("handle", i) for i in range(1, 6)), ("sync", 0), *(("ack", i) for i in range(1, 6))]
    assert batches.batch_sizes == {5: 1}


def test_batches_are_capped() -> None:
    journal = Journal()
    batches = BatchIngest(journal.handle, journal.sync, journal.ack, batch_max=4, window_s=60.0)
    _run(batches, [_msg(i) for i in range(1, 11)])
    assert batches.batch_sizes == {4: 2, 2: 1}
    syncs = [i for i, e in enumerate(journal.events) if e[0] == "sync"]
    # Each ack follows the sync of its own batch, in the order received.
    acks = [(i, e[1]) for i, e in enumerate(journal.events) if e[0] == "ack"]
    assert [mid for _, mid in acks] == list(range(1, 11))
    for index, mid in acks:
        assert index > syncs[(mid - 1) // 4]


def test_a_failed_sync_acknowledges_nothing_of_its_batch() -> None:
    journal = Journal(fail_sync=1)
    batches = BatchIngest(journal.handle, journal.sync, journal.ack, batch_max=3, window_s=60.0)
    _run(batches, [_msg(i) for i in range(1, 7)])
    assert [mid for kind, mid in journal.events if kind == "ack"] == [4, 5, 6]


def test_a_failing_handler_leaves_only_its_message_unacknowledged() -> None:
    journal = Journal(fail_handle=frozenset({2}))
    batches = BatchIngest(journal.handle, journal.sync, journal.ack, window_s=60.0)
    _run(batches, [_msg(i) for i in range(1, 4)])
    assert [mid for kind, mid in journal.events if kind == "ack"] == [1, 3]


def test_a_message_without_an_answer_is_left_unacknowledged() -> None:
    journal = Journal(unanswered=frozenset({2}))
    batches = BatchIngest(journal.handle, journal.sync, journal.ack, window_s=60.0)
    _run(batches, [_msg(i) for i in range(1, 4)])
    assert [mid for kind, mid in journal.events if kind == "ack"] == [1, 3]


def test_messages_held_in_memory_stay_within_the_byte_budget() -> None:
    """The network thread waits once the messages not yet committed reach the budget (never for the first)."""
    held: list[int] = []
    journal = Journal()
    batches = BatchIngest(lambda m: held.append(batches._held) or "ok", journal.sync, journal.ack,
                          max_bytes=10_000, window_s=0.0)
    worker = threading.Thread(target=batches.run)
    worker.start()
    for i in range(1, 41):
        batches.put(_msg(i, b"x" * 3000))
        assert batches._held <= 10_000
    batches.close()
    worker.join(timeout=10)
    assert [mid for kind, mid in journal.events if kind == "ack"] == list(range(1, 41))
    assert max(held) <= 9000


def test_worker_thread_commits_messages_arriving_over_time() -> None:
    journal = Journal()
    batches = BatchIngest(journal.handle, journal.sync, journal.ack)
    worker = threading.Thread(target=batches.run)
    worker.start()
    for i in range(1, 21):
        batches.put(_msg(i))
        if i % 5 == 0:
            time.sleep(0.01)
    batches.close()
    worker.join(timeout=10)
    assert not worker.is_alive()
    acks = [mid for kind, mid in journal.events if kind == "ack"]
    assert acks == list(range(1, 21))
    last_sync = max(i for i, e in enumerate(journal.events) if e[0] == "sync")
    assert journal.events.index(("ack", 20)) > last_sync


def test_real_ingest_is_on_disk_when_acknowledged(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    ingestor = bench.ingestor(durable=False)
    blobs = bench.sealed(3, time.time() - 10)
    seen_at_ack: list[bool] = []
    synced: list[int] = []

    def handle(msg: InboundMessage) -> object:
        return ingestor.ingest(msg.topic, msg.payload)

    def sync() -> None:
        ingestor.sync()
        synced.append(1)

    def ack(msg: InboundMessage) -> bool:
        record = bench.center.store / DEVICE / f"{msg.mid - 1:010d}.json"
        seen_at_ack.append(bool(synced) and record.stat().st_size > 0)
        return True

    batches = BatchIngest(handle, sync, ack, window_s=60.0)
    _run(batches, [InboundMessage(TOPIC, b, False, mid=i + 1) for i, b in enumerate(blobs)])
    assert seen_at_ack == [True, True, True]
    assert ingestor.counts["stored"] == 3
