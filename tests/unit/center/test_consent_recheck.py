"""Held segments (consent record not yet received): re-ingested without a window in which a crash loses one, only
when the record they name arrives, capped per device and dropped when they waited too long."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from edge_agent.center.pending import PendingStore

CID = "c-0123456789abcdef"
OTHER = "c-fedcba9876543210"


def _store(tmp_path: Path, **kwargs: float) -> PendingStore:
    return PendingStore(tmp_path / "center" / "pending", **kwargs)  # type: ignore[arg-type]


def _held(store: PendingStore, device: str, consent_id: str) -> list[Path]:
    folder = store.folder / device / consent_id
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_held_copy_is_deleted_only_after_the_reingest_is_synced(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.hold("dev-one", CID, 3, b"sealed bytes") == ""
    folder = store.folder / "dev-one" / CID
    events: list[str] = []

    def ingest(payload: bytes) -> None:
        assert payload == b"sealed bytes"
        # While the segment is being ingested its held copy still exists (as a claim of this worker).
        assert list(folder.glob("*.claimed-*")), "held copy gone before the ingest was durable"
        events.append("ingest")

    def sync() -> None:
        assert list(folder.glob("*.claimed-*"))
        events.append("sync")

    assert store.recheck("dev-one", CID, ingest, sync) == 1
    assert events == ["ingest", "sync"]
    assert not list(folder.iterdir())


def test_only_segments_naming_the_new_record_are_rechecked(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for seq in range(5):
        assert store.hold("dev-one", CID, seq, b"a%d" % seq) == ""
    assert store.hold("dev-one", OTHER, 9, b"b") == ""
    seen: list[bytes] = []
    assert store.recheck("dev-one", OTHER, seen.append) == 1
    assert seen == [b"b"]
    assert len(_held(store, "dev-one", CID)) == 5


def test_claim_of_a_dead_worker_is_taken_up_again(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.hold("dev-one", CID, 5, b"abandoned")
    [held] = _held(store, "dev-one", CID)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    held.rename(held.with_name(held.name + f".claimed-{int(dead.stdout)}"))
    seen: list[bytes] = []
    assert store.recheck("dev-one", CID, seen.append) == 1
    assert seen == [b"abandoned"]
    assert not _held(store, "dev-one", CID)


def test_claim_of_a_live_worker_is_left_alone(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.hold("dev-one", CID, 6, b"in hand")
    [held] = _held(store, "dev-one", CID)
    held.rename(held.with_name(held.name + ".claimed-1"))  # pid 1 is always alive
    assert store.recheck("dev-one", CID, lambda _p: None) == 0
    assert len(_held(store, "dev-one", CID)) == 1


def test_a_device_holds_at_most_its_cap(tmp_path: Path) -> None:
    store = _store(tmp_path, max_items=4, max_bytes=1000)
    assert [store.hold("dev-one", CID, seq, b"x" * 10) for seq in range(4)] == [""] * 4
    assert "too many segments wait" in store.hold("dev-one", OTHER, 4, b"x")
    assert "too many segments wait" in store.hold("dev-two", CID, 0, b"y" * 1001)
    assert store.hold("dev-two", CID, 0, b"y" * 100) == ""  # another device's cap is its own
    assert store.count() == 5


def test_a_malformed_consent_id_is_never_held(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.hold("dev-one", "../../etc", 1, b"x") != ""
    assert store.count() == 0


def test_segments_held_too_long_expire(tmp_path: Path) -> None:
    store = _store(tmp_path, hold_for=60.0)
    store.hold("dev-one", CID, 1, b"old")
    store.hold("dev-one", CID, 2, b"new")
    old = _held(store, "dev-one", CID)[0]
    stamp = time.time() - 120
    os.utime(old, (stamp, stamp))
    dropped = store.expire()
    assert [(d.device_id, d.consent_id, d.seq) for d in dropped] == [("dev-one", CID, 1)]
    assert [p.name.split("-")[0] for p in _held(store, "dev-one", CID)] == ["0000000002"]
