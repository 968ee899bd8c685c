"""The durable outbox: crash safety, the cap, corrupt files and a full disk, checked on the files themselves."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_agent.errors import OutboxError
from edge_agent.outbox.spool import Outbox, encode_item

TOPIC = "rtcc/v1/door-1/segments"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_put_survives_a_new_outbox(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 1 << 20)
    assert box.put(2, TOPIC, "c-1", b"second") == []
    assert box.put(1, TOPIC, "c-1", b"first") == []
    again = Outbox(tmp_path, 1 << 20)
    items = again.pending()
    assert [(i.seq, i.topic, i.consent_id) for i in items] == [(1, TOPIC, "c-1"), (2, TOPIC, "c-1")]
    assert [again.read(i) for i in items] == [b"first", b"second"]
    assert again.used_bytes == sum(i.size for i in items) == sum(i.path.stat().st_size for i in items)
    assert oct(items[0].path.stat().st_mode & 0o777) == "0o600"


def test_put_is_durable_in_another_process(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from edge_agent.outbox.spool import Outbox;"
        "Outbox(Path(sys.argv[1]), 1 << 20).put(5, 'rtcc/v1/d-1/segments', 'c', b'blob');"
        "import os; os._exit(0)"  # no cleanup: only what put() made durable is there
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    box = Outbox(tmp_path, 1 << 20)
    assert [box.read(i) for i in box.pending()] == [b"blob"]


def test_stray_tmp_files_are_ignored_and_removed(tmp_path: Path) -> None:
    Outbox(tmp_path, 1 << 20).put(1, TOPIC, "c", b"ok")
    dead = tmp_path / ".00000000000000000002.item.999999999.tmp"  # a writer that crashed mid-write
    dead.write_bytes(encode_item(2, TOPIC, "c", b"half")[:20])
    live = tmp_path / f".00000000000000000003.item.{os.getppid()}.tmp"  # a writer that is still running
    live.write_bytes(b"in progress")
    box = Outbox(tmp_path, 1 << 20)
    assert [i.seq for i in box.pending()] == [1]
    assert not dead.exists()
    assert live.exists()


def test_cap_evicts_oldest(tmp_path: Path) -> None:
    size = len(encode_item(0, TOPIC, "c", bytes(1000)))
    box = Outbox(tmp_path, 3 * size)
    for seq in range(3):
        assert box.put(seq, TOPIC, "c", bytes(1000)) == []
    evicted = box.put(3, TOPIC, "c", bytes(1000))
    assert [i.seq for i in evicted] == [0]
    evicted = box.put(4, TOPIC, "c", bytes(2000))
    assert [i.seq for i in evicted] == [1, 2]
    assert [i.seq for i in box.pending()] == [3, 4]
    assert box.used_bytes <= 3 * size
    assert _files(tmp_path) == ["00000000000000000003.item", "00000000000000000004.item"]


def test_item_larger_than_the_cap_is_refused(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 4096)
    box.put(1, TOPIC, "c", b"small")
    with pytest.raises(OutboxError, match="larger than the whole outbox"):
        box.put(2, TOPIC, "c", bytes(5000))
    assert [i.seq for i in box.pending()] == [1]


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_corrupt_file_is_quarantined(tmp_path: Path, damage: str) -> None:
    box = Outbox(tmp_path, 1 << 20)
    box.put(1, TOPIC, "c", b"A" * 500)
    box.put(2, TOPIC, "c", b"B" * 500)
    item = box.pending()[0]
    data = bytearray(item.path.read_bytes())
    if damage == "flip":
        data[-10] ^= 0x01
    elif damage == "truncate":
        data = data[:-1]
    else:
        data = bytearray(b"not an outbox item")
    item.path.write_bytes(bytes(data))
    if damage == "flip":  # the header still parses: caught by the checksum on read
        with pytest.raises(OutboxError, match="corrupt"):
            box.read(item)
    else:
        box = Outbox(tmp_path, 1 << 20)  # caught while replaying
    assert [i.seq for i in box.pending()] == [2]
    assert (tmp_path / "quarantine" / "00000000000000000001.item").read_bytes() == bytes(data)
    # No crash loop: a fresh outbox does not see it again.
    assert [i.seq for i in Outbox(tmp_path, 1 << 20).pending()] == [2]


def test_enospc_gives_outbox_error_and_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = Outbox(tmp_path, 1 << 20)
    box.put(1, TOPIC, "c", b"kept")
    real_write = os.write
    calls = {"n": 0}

    def full_disk(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[:100])  # a short write first, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OutboxError, match="disk full"):
        box.put(2, TOPIC, "c", bytes(10_000))
    monkeypatch.undo()
    assert _files(tmp_path) == ["00000000000000000001.item"]
    assert [i.seq for i in box.pending()] == [1]
    assert box.put(2, TOPIC, "c", b"later") == []  # the caller keeps running


def test_ack_and_drop(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 1 << 20)
    for seq, consent in [(1, "c-1"), (2, "live-1"), (3, "c-1"), (4, "live-1")]:
        box.put(seq, TOPIC, consent, f"blob{seq}".encode())
    first = box.pending()[0]
    box.ack(first)
    box.ack(first)  # twice is harmless
    dropped = box.drop(lambda consent_id: consent_id.startswith("live-"), "consent was revoked")
    assert [i.seq for i in dropped] == [2, 4]
    assert [i.seq for i in box.pending()] == [3]
    assert _files(tmp_path) == ["00000000000000000003.item"]
    # The acknowledged one is kept as sent; the dropped ones are withheld for good.
    assert box.archive.fate(1) == ("kept", "")
    assert box.archive.fate(2) == box.archive.fate(4) == ("withheld", "consent was revoked")


def test_drop_by_another_process_is_seen(tmp_path: Path) -> None:
    daemon = Outbox(tmp_path, 1 << 20)
    daemon.put(1, TOPIC, "live-1", b"x")
    daemon.put(2, TOPIC, "c-1", b"y")
    item = daemon.pending()[0]
    Outbox(tmp_path, 1 << 20).drop(lambda consent_id: consent_id == "live-1", "revoked")  # e.g. the command line
    assert [i.seq for i in daemon.pending()] == [2]
    with pytest.raises(OutboxError, match="no longer in the outbox"):
        daemon.read(item)
    assert not (tmp_path / "quarantine").exists()


def test_reject_moves_aside(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 1 << 20)
    box.put(1, TOPIC, "c", b"refused")
    moved = box.reject(box.pending()[0], "not authorized")
    assert moved == tmp_path / "rejected" / "00000000000000000001.item"
    assert moved.exists()
    assert box.pending() == []


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(OutboxError):
        Outbox(tmp_path, 0)
    with pytest.raises(OutboxError):
        Outbox(tmp_path, 100).put(-1, TOPIC, "c", b"")


def test_an_item_whose_commit_hook_fails_never_appears(tmp_path):
    outbox = Outbox(tmp_path / "outbox", 1 << 20)
    seen_during_hook: list[list[int]] = []

    def hook() -> None:
        seen_during_hook.append([i.seq for i in outbox.pending()])
        raise OSError(28, "No space left on device")

    with pytest.raises(OutboxError, match="disk full"):
        outbox.put(7, "rtcc/v1/dev-x/segments", "c-1", b"sealed", before_commit=hook)
    assert seen_during_hook == [[]]  # durable, but not yet visible to the publisher while the hook runs
    assert outbox.pending() == []
    assert [p.name for p in (tmp_path / "outbox").iterdir() if p.is_file()] == []  # no tmp file left behind
    outbox.put(8, "rtcc/v1/dev-x/segments", "c-1", b"sealed", before_commit=lambda: None)
    assert [i.seq for i in outbox.pending()] == [8]


def test_what_was_shared_is_kept_as_sent_and_can_be_sent_again(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 1 << 20)
    for seq, consent in [(1, "c-1"), (2, "live-1"), (3, "live-1")]:
        box.put(seq, TOPIC, consent, f"blob{seq}".encode())
    for item in box.pending():
        box.ack(item)
    assert box.pending() == [] and [seq for seq, _ in box.archive.kept()] == [1, 2, 3]
    assert box.requeue(2) and [i.seq for i in box.pending()] == [2]
    assert box.read(box.pending()[0]) == b"blob2"  # byte for byte what was first sent
    box.ack(box.pending()[0])
    # A revocation withholds what a live grant covered, sent or not; it is never sent again.
    box.put(4, TOPIC, "live-1", b"blob4")
    assert [i.seq for i in box.drop(lambda c: c.startswith("live-"), "consent was revoked")] == [4]
    assert [seq for seq, _ in box.archive.kept()] == [1]
    assert not box.requeue(3)
    assert box.archive.fate(3) == ("withheld", "consent was revoked")
    assert box.archive.fate(9) is None


def test_shared_archive_is_pruned_by_age_and_bytes(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 1 << 20)
    for seq in range(1, 6):
        box.put(seq, TOPIC, "c-1", bytes(1000))
        box.ack(box.pending()[0])
    old = box.archive.item(1)
    assert old is not None
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    pruned = box.archive.prune(time.time(), max_age_s=3600, max_bytes=2500)
    assert (pruned.aged, pruned.evicted) == (1, 2)
    assert [seq for seq, _ in box.archive.kept()] == [4, 5]
    assert box.archive.fate(2) is not None and box.archive.fate(2)[0] == "lost"
    assert box.archive.fate(1) is None  # past retention: nothing is known any more


def test_evicted_and_refused_items_are_noted_as_lost(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 2048)
    box.put(1, TOPIC, "c", bytes(900))
    box.put(2, TOPIC, "c", bytes(900))
    box.put(3, TOPIC, "c", bytes(900))
    assert box.archive.fate(1) == ("lost", "evicted from the outbox at its cap (while the broker was away)")
    box.reject(box.pending()[0], "not authorized")
    fate = box.archive.fate(2)
    assert fate is not None and fate[0] == "lost" and "refused by the broker" in fate[1]


def test_copies_of_what_was_sent_go_before_anything_waiting(tmp_path: Path) -> None:
    """The cap counts the kept copies too, and evicts them first; a waiting segment is never evicted for them."""
    box = Outbox(tmp_path, 3000)
    for seq in (1, 2):
        box.put(seq, TOPIC, "c", bytes(900))
        box.ack(box.pending()[0])
    assert [seq for seq, _ in box.archive.kept()] == [1, 2]
    box.put(3, TOPIC, "c", bytes(900))
    box.put(4, TOPIC, "c", bytes(900))
    assert [i.seq for i in box.pending()] == [3, 4]
    assert [seq for seq, _ in box.archive.kept()] == [2]
    fate = box.archive.fate(1)
    assert fate is not None and fate[0] == "lost" and "at its cap" in fate[1]
