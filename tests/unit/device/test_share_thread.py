"""The share thread: finished segments leave the frame loop in order; a full hand-off fails closed for sharing."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from edge_agent.config.models import ConsentCaps
from edge_agent.consent.state import ConsentStore
from edge_agent.core.audit import AuditLog
from edge_agent.device.consent_gate import ConsentGate
from edge_agent.device.share_thread import BACKLOG, ShareWorker
from edge_agent.segment.model import Segment, SegmentMeta


def _segment(seq: int) -> Segment:
    meta = SegmentMeta(device_id="share-device", seq=seq, start=float(seq), end=seq + 1.0, frame_count=10,
                       width=320, height=180, fps=10.0, content_type="video/mp2t", profile_hash="0" * 64)
    return Segment(meta, bytes([seq]) * 100)


class _SlowDisk:
    """Retention that blocks until released: a disk whose fsync has stalled."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.kept: list[int] = []

    def __call__(self, segment: Segment) -> None:
        self.entered.set()
        assert self.release.wait(timeout=10)
        self.kept.append(segment.meta.seq)


def _gate(tmp_path: Path) -> ConsentGate:
    """A gate of a device that is not enrolled: nothing is sealed, every segment is still retained."""
    return ConsentGate(ConsentStore(tmp_path / "consent.json"), AuditLog(tmp_path / "audit.jsonl"), None, ConsentCaps())


def test_full_queue_refuses_without_blocking_and_audits(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    disk, events = _SlowDisk(), Counter[str]()
    worker = ShareWorker(gate=_gate(tmp_path), audit=audit, retain=disk, notify=lambda: None, events=events, capacity=1)
    worker.start()
    assert worker.submit(_segment(0), scene_shifted=False)
    assert disk.entered.wait(timeout=10)  # segment 0 is being handled: the queue is empty again
    assert worker.submit(_segment(1), scene_shifted=False)
    # The queue (one place) is full and the share thread is stuck: the frame loop gets an answer at once.
    assert not worker.submit(_segment(2), scene_shifted=False)
    disk.release.set()
    worker.stop()
    assert disk.kept == [0, 1]  # in order; the refused segment is neither retained nor shared
    assert events[BACKLOG] == 1
    refused = [e for e in audit.entries() if e["kind"] == BACKLOG]
    assert [e["segment"] for e in refused] == [2]
    assert audit.verify().ok


def test_unpaced_hand_off_waits_for_room(tmp_path: Path) -> None:
    disk, events = _SlowDisk(), Counter[str]()
    worker = ShareWorker(gate=_gate(tmp_path), audit=AuditLog(tmp_path / "audit.jsonl"), retain=disk,
                         notify=lambda: None,
                         events=events, capacity=1)
    worker.start()
    disk.release.set()
    for seq in range(6):
        assert worker.submit(_segment(seq), scene_shifted=False, wait=True)
    worker.stop()
    assert disk.kept == list(range(6))
    assert events[BACKLOG] == 0


def test_segment_cut_while_the_scene_had_shifted_is_neither_kept_nor_shared(tmp_path: Path) -> None:
    disk, events = _SlowDisk(), Counter[str]()
    disk.release.set()
    worker = ShareWorker(gate=_gate(tmp_path), audit=AuditLog(tmp_path / "audit.jsonl"), retain=disk,
                         notify=lambda: None,
                         events=events)
    worker.start()
    worker.submit(_segment(0), scene_shifted=True)
    worker.submit(_segment(1), scene_shifted=False)
    worker.stop()
    assert disk.kept == [1]
    assert worker.shared == 0  # not enrolled: nothing to share with


def test_a_failing_segment_does_not_stop_the_ones_after_it(tmp_path: Path) -> None:
    kept: list[int] = []

    def retain(segment: Segment) -> None:
        if segment.meta.seq == 0:
            raise OSError("card removed")
        kept.append(segment.meta.seq)

    events = Counter[str]()
    worker = ShareWorker(gate=_gate(tmp_path), audit=AuditLog(tmp_path / "audit.jsonl"), retain=retain,
                         notify=lambda: None, events=events)
    worker.start()
    worker.submit(_segment(0), scene_shifted=False)
    worker.submit(_segment(1), scene_shifted=False)
    worker.stop()
    assert kept == [1]
    assert events["share_error"] == 1
