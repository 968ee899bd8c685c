"""Splitting and on-disk reassembly of oversize payloads, including workers that share one folder."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

import pytest

from edge_agent.errors import TransportError
from edge_agent.transport.model import InboundMessage
from edge_agent.transport.parts import (
    MAX_PARTS,
    MAX_PAYLOAD,
    part_properties_template,
    plan_parts,
    publish_packet_size,
    split_payload,
)
from edge_agent.transport.reassembly import Reassembler

TOPIC = "rtcc/v1/door-1/segments"


def _parts(payload: bytes, chunk: int, topic: str = TOPIC) -> list[InboundMessage]:
    return [
        InboundMessage(topic=topic, payload=data, retain=False, user_properties=props)
        for data, props in split_payload(payload, chunk)
    ]


def _leftovers(folder: Path) -> list[str]:
    """Unfinished sets and claims (a sender's folder is only a container)."""
    found = []
    for entry in folder.iterdir():
        if entry.name == ".done":
            continue
        if entry.name.startswith(".claim-"):
            found.append(entry.name)
        else:
            found.extend(p.name for p in entry.iterdir())
    return sorted(found)


def test_unsplit_message_passes_through(tmp_path: Path) -> None:
    msg = InboundMessage(topic=TOPIC, payload=b"whole", retain=False, user_properties=(("seq", "1"),))
    assert Reassembler(tmp_path).feed(msg) == b"whole"


def test_split_properties() -> None:
    payload = os.urandom(10_001)
    parts = split_payload(payload, 1000)
    assert len(parts) == 11
    assert b"".join(data for data, _ in parts) == payload
    props = [dict(p) for _, p in parts]
    assert [p["part"] for p in props] == [f"{i}/11" for i in range(1, 12)]
    assert {p["msg"] for p in props} == {props[0]["msg"]}
    assert {p["sha256"] for p in props} == {hashlib.sha256(payload).hexdigest()}
    assert {p["size"] for p in props} == {"10001"}


def test_packet_size_is_an_upper_bound_for_parts() -> None:
    # The template is the widest a part's properties can be, so a part never exceeds the room computed with it.
    for _, props in split_payload(os.urandom(3000), 1000):
        assert publish_packet_size(TOPIC, 1000, props) <= publish_packet_size(TOPIC, 1000, part_properties_template())
    # 2-byte remaining-length field starts at 128 bytes, so the fixed header grows with the payload.
    assert publish_packet_size("t", 0) == 1 + 1 + 3 + 2 + 1
    assert publish_packet_size("t", 200) == 1 + 2 + 3 + 2 + 1 + 200


def test_parts_in_any_order(tmp_path: Path) -> None:
    payload = os.urandom(50_000)
    parts = _parts(payload, 4096)
    random.Random(7).shuffle(parts)
    r = Reassembler(tmp_path)
    results = [r.feed(p) for p in parts]
    assert results[:-1] == [None] * (len(parts) - 1)
    assert results[-1] == payload
    assert _leftovers(tmp_path) == []


def test_two_reassemblers_interleaved(tmp_path: Path) -> None:
    a, b = os.urandom(40_000), os.urandom(33_333)
    parts = _parts(a, 3000) + _parts(b, 3000, topic="rtcc/v1/door-2/segments")
    random.Random(3).shuffle(parts)
    workers = [Reassembler(tmp_path), Reassembler(tmp_path)]
    out = [w for i, p in enumerate(parts) if (w := workers[i % 2].feed(p)) is not None]
    assert sorted(out, key=len) == [b, a]
    assert _leftovers(tmp_path) == []


def test_concurrent_workers_assemble_each_message_once(tmp_path: Path) -> None:
    payloads = [os.urandom(20_000 + i) for i in range(6)]
    parts = [p for payload in payloads for p in _parts(payload, 1500)]
    random.Random(11).shuffle(parts)
    results: list[bytes] = []
    lock = threading.Lock()

    def work(share: list[InboundMessage]) -> None:
        r = Reassembler(tmp_path)
        for p in share:
            whole = r.feed(p)
            if whole is not None:
                with lock:
                    results.append(whole)

    threads = [threading.Thread(target=work, args=(parts[i::3],)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(payloads)


def test_duplicate_part_after_assembly_is_ignored(tmp_path: Path) -> None:
    payload = os.urandom(9000)
    parts = _parts(payload, 4000)
    r = Reassembler(tmp_path)
    assert [r.feed(p) for p in parts][-1] == payload
    assert r.feed(parts[-1]) is None
    assert r.feed(parts[0]) is None
    assert _leftovers(tmp_path) == []


def test_same_message_id_on_another_topic_does_not_mix(tmp_path: Path) -> None:
    payload = os.urandom(5000)
    parts = _parts(payload, 3000)
    forged = InboundMessage(
        topic="rtcc/v1/door-2/segments", payload=b"x" * 3000, retain=False, user_properties=parts[0].user_properties
    )
    r = Reassembler(tmp_path)
    assert r.feed(forged) is None
    assert r.feed(parts[0]) is None
    assert r.feed(parts[1]) == payload


def test_tampered_part_fails_the_checksum(tmp_path: Path) -> None:
    parts = _parts(os.urandom(5000), 3000)
    bad = InboundMessage(topic=TOPIC, payload=bytes(3000), retain=False, user_properties=parts[0].user_properties)
    r = Reassembler(tmp_path)
    assert r.feed(bad) is None
    with pytest.raises(TransportError, match="SHA-256"):
        r.feed(parts[1])
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "props",
    [
        (("part", "0/2"), ("msg", "a" * 32), ("sha256", "b" * 64), ("size", "5")),
        (("part", "3/2"), ("msg", "a" * 32), ("sha256", "b" * 64), ("size", "5")),
        (("part", "1/2"), ("msg", "../../etc"), ("sha256", "b" * 64), ("size", "5")),
        (("part", "1/2"), ("msg", "a" * 32), ("size", "5")),
        (("part", "x"), ("msg", "a" * 32), ("sha256", "b" * 64), ("size", "5")),
    ],
)
def test_malformed_part_properties(tmp_path: Path, props: tuple[tuple[str, str], ...]) -> None:
    msg = InboundMessage(topic=TOPIC, payload=b"p", retain=False, user_properties=props)
    with pytest.raises(TransportError, match="malformed part"):
        Reassembler(tmp_path).feed(msg)
    assert _leftovers(tmp_path) == []


def test_stale_partial_sets_are_purged(tmp_path: Path) -> None:
    parts = _parts(os.urandom(9000), 4000)
    r = Reassembler(tmp_path, stale_after=60)
    assert r.feed(parts[0]) is None
    assert len(_leftovers(tmp_path)) == 1
    assert r.purge(now=time.time()) == 0  # still fresh
    assert r.purge(now=time.time() + 120) == 1
    assert _leftovers(tmp_path) == []


def test_split_refuses_silly_sizes() -> None:
    with pytest.raises(TransportError):
        split_payload(b"abc", 0)


def test_plan_parts_fits_every_part_under_the_limit() -> None:
    payload = os.urandom(300_000)
    base = (("seq", "1"),)
    assert plan_parts(TOPIC, payload, None) == [(payload, ())]
    assert plan_parts(TOPIC, payload, 1 << 20) == [(payload, ())]
    parts = plan_parts(TOPIC, payload, 65536, base, content_type="application/x-sealed", expiry=60)
    assert len(parts) == 5
    for data, extra in parts:
        size = publish_packet_size(TOPIC, len(data), base + extra, "application/x-sealed", 60)
        assert size <= 65536
    with pytest.raises(TransportError, match="retained"):
        plan_parts(TOPIC, payload, 65536, retain=True)
    with pytest.raises(TransportError, match="too small"):
        plan_parts(TOPIC, payload, 1000)


def _props(index: int, count: int, size: int, msg: str = "a" * 32) -> tuple[tuple[str, str], ...]:
    return (("part", f"{index}/{count}"), ("msg", msg), ("sha256", "b" * 64), ("size", str(size)))


def test_parts_from_a_sender_not_admitted_are_refused(tmp_path: Path) -> None:
    r = Reassembler(tmp_path, admit=lambda topic: "door-1" in topic)
    parts = _parts(os.urandom(5000), 3000, topic="rtcc/v1/stranger/segments")
    with pytest.raises(TransportError, match="not enrolled"):
        r.feed(parts[0])
    assert r.feed(_parts(b"x" * 5000, 3000)[0]) is None
    assert len(_leftovers(tmp_path)) == 1


@pytest.mark.parametrize(
    ("index", "count", "size", "length"),
    [
        (1, 2, MAX_PAYLOAD + 1, 4 << 20),  # over the largest payload
        (1, MAX_PARTS + 1, 10 * (MAX_PARTS + 1), 10),  # too many parts
        (1, 4, 4000, 4 << 20),  # a part far larger than its share
        (1, 4, 4000, 10),  # a part far smaller than its share
        (4, 4, 4000, 1001),  # a last part longer than what is left
        (1, 1, 100, 99),  # a single part must be the whole
    ],
)
def test_parts_that_cannot_fit_their_set_are_refused(tmp_path: Path, index: int, count: int, size: int,
                                                     length: int) -> None:
    msg = InboundMessage(topic=TOPIC, payload=bytes(length), retain=False, user_properties=_props(index, count, size))
    with pytest.raises(TransportError):
        Reassembler(tmp_path).feed(msg)
    assert _leftovers(tmp_path) == []


def test_a_sender_has_a_quota_of_unfinished_sets(tmp_path: Path) -> None:
    r = Reassembler(tmp_path, max_open_sets=3)
    for i in range(3):
        assert r.feed(InboundMessage(TOPIC, bytes(3000), False, _props(1, 2, 5000, msg=f"{i:032x}"))) is None
    with pytest.raises(TransportError, match="unfinished"):
        r.feed(InboundMessage(TOPIC, bytes(3000), False, _props(1, 2, 5000, msg=f"{9:032x}")))
    # Another sender's quota is its own.
    other = "rtcc/v1/door-2/segments"
    assert r.feed(InboundMessage(other, bytes(3000), False, _props(1, 2, 5000))) is None


def test_a_sender_has_a_quota_of_declared_bytes(tmp_path: Path) -> None:
    r = Reassembler(tmp_path, max_open_bytes=12_000)
    assert r.feed(InboundMessage(TOPIC, bytes(3000), False, _props(1, 2, 6000, msg="1" * 32))) is None
    assert r.feed(InboundMessage(TOPIC, bytes(3000), False, _props(1, 2, 6000, msg="2" * 32))) is None
    with pytest.raises(TransportError, match="unfinished"):
        r.feed(InboundMessage(TOPIC, bytes(3000), False, _props(1, 2, 6000, msg="3" * 32)))


def test_a_trickle_of_parts_does_not_keep_a_set_alive(tmp_path: Path) -> None:
    r = Reassembler(tmp_path, stale_after=60)
    size, count = 100 * 50, 100
    for i in range(1, 4):
        assert r.feed(InboundMessage(TOPIC, bytes(50), False, _props(i, count, size))) is None
    later = time.time() + 120
    # Parts kept arriving (their files are fresh), but the set is as old as its first part.
    for part in (tmp_path).glob("*/*/0*"):
        os.utime(part, (later, later))
    assert r.purge(now=later) == 1
    assert _leftovers(tmp_path) == []
