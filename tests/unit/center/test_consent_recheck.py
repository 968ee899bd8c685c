"""Held segments (consent record not yet received) are re-ingested without a window in which a crash loses one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge_agent.center.consent_check import ConsentBook
from edge_agent.center.keys import DeviceRegistry


def _book(tmp_path: Path) -> ConsentBook:
    return ConsentBook(tmp_path / "center", DeviceRegistry(tmp_path / "center" / "devices"))


def test_held_copy_is_deleted_only_after_the_reingest_is_synced(tmp_path):
    book = _book(tmp_path)
    held = book.hold("dev-one", 3, b"sealed bytes")
    events: list[str] = []

    def ingest(payload: bytes) -> None:
        assert payload == b"sealed bytes"
        # While the segment is being ingested its held copy still exists (as a claim of this worker).
        assert list(held.parent.glob("*.claimed-*")), "held copy gone before the ingest was durable"
        events.append("ingest")

    def sync() -> None:
        assert list(held.parent.glob("*.claimed-*"))
        events.append("sync")

    assert book.recheck("dev-one", ingest, sync) == 1
    assert events == ["ingest", "sync"]
    assert not list(held.parent.iterdir())


def test_claim_of_a_dead_worker_is_taken_up_again(tmp_path):
    book = _book(tmp_path)
    held = book.hold("dev-one", 5, b"abandoned")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    held.rename(held.with_name(held.name + f".claimed-{int(dead.stdout)}"))
    seen: list[bytes] = []
    assert book.recheck("dev-one", seen.append) == 1
    assert seen == [b"abandoned"]
    assert not list(held.parent.iterdir())


def test_claim_of_a_live_worker_is_left_alone(tmp_path):
    book = _book(tmp_path)
    held = book.hold("dev-one", 6, b"in hand")
    held.rename(held.with_name(held.name + ".claimed-1"))  # pid 1 is always alive
    assert book.recheck("dev-one", lambda _p: None) == 0
    assert len(list(held.parent.iterdir())) == 1
