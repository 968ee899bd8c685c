"""What a crash before a batch was durable can leave behind, and how the redelivered copy repairs it.

Without fsync, a crash can keep a file's name but lose its contents (an empty or short file). Nothing of such a
batch was acknowledged, so the broker delivers every message again; the ingest must then store each segment
completely, as if the damaged files were absent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge_agent.center.verify import verify_store
from edge_agent.core.files import append_line, atomic_write, sync_filesystem
from tests.unit.center.center_helpers import DEVICE, TOPIC, make_bench


def _records(root: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((root / DEVICE).glob("*.json"))]


@pytest.mark.parametrize("damage", [b"", b'{"device_id": "unit-dev', b"\x00" * 300])
def test_a_damaged_record_counts_as_absent_and_is_rewritten(tmp_path: Path, damage: bytes) -> None:
    bench = make_bench(tmp_path)
    blobs = bench.sealed(2, time.time() - 10)
    ingestor = bench.ingestor(durable=False)
    assert [ingestor.ingest(TOPIC, b).status for b in blobs] == ["stored", "stored"]
    # The crash: seq 1's record and its video file lost their contents; nothing was acknowledged.
    record = bench.center.store / DEVICE / "0000000001.json"
    record.write_bytes(damage)
    for video in (bench.center.store / DEVICE).glob("0000000001-*.ts"):
        video.write_bytes(b"")
    assert not verify_store(bench.center).ok

    restarted = bench.ingestor(durable=False)
    assert [restarted.ingest(TOPIC, b).status for b in blobs] == ["duplicate", "stored"]
    restarted.sync()
    stored = _records(bench.center.store)
    assert [r["seq"] for r in stored] == [0, 1]
    report = verify_store(bench.center)
    assert report.ok, report.lines


def test_a_duplicate_restores_files_its_record_outlived(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    [blob] = bench.sealed(1, time.time() - 10)
    bench.ingestor(durable=False).ingest(TOPIC, blob)
    folder = bench.center.store / DEVICE
    [video] = folder.glob("*.ts")
    [sealed] = folder.glob("*.sealed")
    intact_video, intact_sealed = video.read_bytes(), sealed.read_bytes()
    video.write_bytes(intact_video[:1000])  # written back only in part before the crash
    sealed.unlink()

    result = bench.ingestor(durable=False).ingest(TOPIC, blob)
    assert result.status == "duplicate"
    assert video.read_bytes() == intact_video and sealed.read_bytes() == intact_sealed
    assert verify_store(bench.center).ok


def test_a_different_segment_is_still_refused_over_a_valid_record(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    first = bench.sealed(1, time.time() - 10)
    other = bench.sealed(1, time.time() - 20)  # same seq 0, different content
    ingestor = bench.ingestor(durable=False)
    assert ingestor.ingest(TOPIC, first[0]).status == "stored"
    result = ingestor.ingest(TOPIC, other[0])
    assert result.status == "rejected" and "already stored" in result.reason


def test_durable_and_batched_ingest_store_the_same_evidence(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    blobs = bench.sealed(3, time.time() - 10)
    durable = bench.ingestor(durable=True)
    assert [durable.ingest(TOPIC, b).status for b in blobs] == ["stored"] * 3
    durable.sync()  # nothing pending: a no-op
    first = {p.name: p.read_bytes() for p in (bench.center.store / DEVICE).iterdir()}
    (bench.center.store / DEVICE).rename(tmp_path / "durable-store")
    (bench.center.root / "evidence.jsonl").rename(tmp_path / "durable-evidence.jsonl")

    batched = bench.ingestor(durable=False)
    assert [batched.ingest(TOPIC, b).status for b in blobs] == ["stored"] * 3
    batched.sync()
    second = {p.name: p.read_bytes() for p in (bench.center.store / DEVICE).iterdir()}
    assert set(first) == set(second)
    assert all(first[n] == second[n] for n in first if not n.endswith(".json"))
    assert len((bench.center.root / "evidence.jsonl").read_text().splitlines()) == 3
    assert verify_store(bench.center).ok


@pytest.mark.parametrize("use_syncfs", [True, False])
def test_sync_filesystem_both_ways(tmp_path: Path, use_syncfs: bool) -> None:
    target = tmp_path / "a" / "file.bin"
    atomic_write(target, b"payload", durable=False)
    append_line(tmp_path / "log.jsonl", "one", durable=False)
    append_line(tmp_path / "log.jsonl", "two\n", durable=False)
    sync_filesystem(tmp_path, [target, tmp_path / "log.jsonl"], use_syncfs=use_syncfs)
    assert target.read_bytes() == b"payload"
    assert (tmp_path / "log.jsonl").read_text() == "one\ntwo\n"
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_exclusive_claim_holds_without_fsync(tmp_path: Path) -> None:
    target = tmp_path / "claim.json"
    atomic_write(target, b"first", exclusive=True, durable=False)
    with pytest.raises(FileExistsError):
        atomic_write(target, b"second", exclusive=True, durable=False)
    assert target.read_bytes() == b"first"
