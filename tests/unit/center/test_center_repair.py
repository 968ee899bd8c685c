"""The center's repair: it notices gaps and a lost tail, asks the online device for exactly those numbers (signed,
bounded, rate-limited, with back-off), records what the device answers, and counts each device's chain."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from edge_agent.center import repair as repair_module
from edge_agent.center.cli import main as center_main
from edge_agent.center.keys import DeviceRegistry, load_keys
from edge_agent.center.presence import PresenceBook
from edge_agent.center.repair import Repair, chain_counts
from edge_agent.config.identity import load_identity
from edge_agent.consent.resend import ResendAnswer, parse_resend, sign_resend_answer
from edge_agent.seal.signed import verify_document
from edge_agent.transport.model import InboundMessage
from tests.unit.center.center_helpers import DEVICE, TOPIC, Bench, make_bench


class Sent:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def __call__(self, topic: str, payload: bytes, **properties: Any) -> None:
        assert topic == f"rtcc/v1/{DEVICE}/requests" and properties["qos"] == 1
        self.requests.append({"payload": payload, **properties})


def _status(bench: Bench, state: str, shared_seq: int) -> None:
    doc = {"device_id": DEVICE, "state": state, "time": time.time(), "shared_seq": shared_seq}
    learned, _ = PresenceBook(bench.center.status).learn(DEVICE, json.dumps(doc).encode())
    assert learned.status == "new"


def _ask_until_given_up(repair: Repair) -> float:
    """Tick the repair (at once, then past the grace time, then once a back-off period) long enough for every
    attempt to be spent; the clock it reached."""
    now = time.time()
    repair.tick(now)
    now += 60
    for _ in range(40):
        repair.tick(now)
        now += repair_module.BACKOFF_MAX_S
    return now


def _setup(tmp_path: Path, stored: list[int], count: int = 10) -> tuple[Bench, Repair, Sent, list[bytes]]:
    bench = make_bench(tmp_path)
    blobs = bench.sealed(count, time.time() - 60)
    ingestor = bench.ingestor(durable=True)
    for seq in stored:
        assert ingestor.ingest(TOPIC, blobs[seq]).status == "stored"
    sent = Sent()
    repair = Repair(bench.center, load_keys(bench.center), DeviceRegistry(bench.center.devices), "rtcc/v1",
                    publish=sent)
    return bench, repair, sent, blobs


def _asked(bench: Bench, sent: Sent) -> list[list[int]]:
    key = load_keys(bench.center).ed25519.public_key()
    return [list(parse_resend(verify_document(r["payload"], key)).seqs) for r in sent.requests]


def test_gaps_and_a_lost_tail_are_asked_for_after_the_grace(tmp_path: Path) -> None:
    bench, repair, sent, _ = _setup(tmp_path, [0, 1, 4, 5])
    _status(bench, "online", 7)  # the device shared up to 7: 6 and 7 are a lost tail
    now = time.time()
    assert repair.tick(now) == 0  # they may still be on their way
    assert repair.tick(now + repair_module.GRACE_S + 1) == 1
    assert _asked(bench, sent) == [[2, 3, 6, 7]]
    assert repair.tick(now + repair_module.GRACE_S + 2) == 0  # one request per device per interval
    counts = chain_counts(bench.center, DEVICE)
    assert (counts.expected, counts.stored, counts.missing) == (8, 4, 4)


def test_an_offline_device_is_not_asked(tmp_path: Path) -> None:
    bench, repair, sent, _ = _setup(tmp_path, [0, 2])
    _status(bench, "offline", 2)
    now = time.time()
    assert repair.tick(now) == 0 and repair.tick(now + 60) == 0 and sent.requests == []
    _status(bench, "online", 2)
    assert repair.tick(now + 61) == 1 and _asked(bench, sent) == [[1]]


def test_what_arrives_after_asking_counts_as_repaired(tmp_path: Path) -> None:
    bench, repair, _, blobs = _setup(tmp_path, [0, 2, 3])
    _status(bench, "online", 3)
    repair.tick(time.time())
    repair.tick(time.time() + 60)
    assert bench.ingestor(durable=True).ingest(TOPIC, blobs[1]).status == "stored"
    counts = chain_counts(bench.center, DEVICE)
    assert (counts.stored, counts.repaired, counts.missing) == (4, 1, 0)
    repair.tick(time.time() + 120)
    assert chain_counts(bench.center, DEVICE).repaired == 1


def _answer(bench: Bench, request_id: str, **fields: Any) -> bytes:
    base = {"device_id": DEVICE, "request_id": request_id, "answered_at": round(time.time(), 3), "resent": (),
            "withheld": (), "lost": (), "deferred": ()}
    return sign_resend_answer(ResendAnswer(**{**base, **fields}), load_identity(bench.device).signing_key)


def test_the_devices_answer_is_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench, repair, sent, _ = _setup(tmp_path, [0, 4])
    _status(bench, "online", 4)
    repair.tick(time.time())
    repair.tick(time.time() + 60)
    key = load_keys(bench.center).ed25519.public_key()
    request = parse_resend(verify_document(sent.requests[0]["payload"], key))
    assert request.seqs == (1, 2, 3)
    answer = _answer(bench, request.id, resent=(1,), withheld=((2, "consent was revoked"),),
                     lost=((3, "evicted from the outbox at its cap"),))
    assert repair.learn(DEVICE, answer).status == "new"
    counts = chain_counts(bench.center, DEVICE)
    assert (counts.expected, counts.stored, counts.withheld, counts.lost, counts.missing) == (5, 2, 1, 1, 1)
    lines = [json.loads(line) for line in (bench.center.root / "repairs.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["resend requested", "resend answered"]
    # The same counts for a person: verify, and the list of devices with their state.
    assert center_main(["--dir", str(bench.center.root), "devices", "list"]) == 0
    listed = capsys.readouterr().out
    [line] = [line for line in listed.splitlines() if line.startswith(DEVICE)]
    assert "online since" in line and "1 withheld, 1 lost" in line
    assert center_main(["--dir", str(bench.center.root), "verify"]) == 0
    assert "expected 5, stored 2, repaired 0, withheld 1, lost 1, missing 1" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["never sent", "not asked", "forged"])
def test_answers_that_do_not_match_a_request_are_refused(tmp_path: Path, bad: str) -> None:
    bench, repair, sent, _ = _setup(tmp_path, [0, 2])
    _status(bench, "online", 2)
    repair.tick(time.time())
    repair.tick(time.time() + 60)
    key = load_keys(bench.center).ed25519.public_key()
    request = parse_resend(verify_document(sent.requests[0]["payload"], key))
    if bad == "never sent":
        payload = _answer(bench, "s-" + "9" * 16, resent=(1,))
    elif bad == "not asked":
        payload = _answer(bench, request.id, lost=((0, "x"),))
    else:
        payload = _answer(bench, request.id, resent=(1,)).replace(b'"resent":[1]', b'"resent":[]')
    assert repair.learn(DEVICE, payload).status == "refused"
    assert chain_counts(bench.center, DEVICE).withheld == 0


def test_a_number_asked_for_too_often_is_lost(tmp_path: Path) -> None:
    bench, repair, sent, _ = _setup(tmp_path, [0, 2])
    _status(bench, "online", 2)
    _ask_until_given_up(repair)
    assert len(sent.requests) == repair_module.MAX_ATTEMPTS
    state = json.loads((bench.center.repair / f"{DEVICE}.json").read_text())
    assert "not received after" in state["lost"]["1"]
    counts = chain_counts(bench.center, DEVICE)
    assert (counts.lost, counts.missing) == (1, 0)


def test_at_most_a_bounded_number_is_asked_at_once(tmp_path: Path) -> None:
    bench, repair, sent, _ = _setup(tmp_path, [0])
    _status(bench, "online", 200)
    repair.tick(time.time())
    repair.tick(time.time() + 60)
    assert len(_asked(bench, sent)[0]) == 64


def test_a_far_off_claim_costs_a_bounded_tick(tmp_path: Path) -> None:
    # A hostile or broken device says it shared up to a number far past its chain. The repair runs on the thread
    # that ingests every device's segments: it looks at a bounded window of numbers, never at all of them.
    bench, repair, sent, blobs = _setup(tmp_path, [0, 1])
    claim = 200_000
    _status(bench, "online", claim)
    now = time.time()
    repair.tick(now)
    repair.tick(now + 60)
    state = json.loads((bench.center.repair / f"{DEVICE}.json").read_text())
    assert len(state["gaps"]) == repair_module.WINDOW
    assert _asked(bench, sent) == [list(range(2, 2 + 64))]
    counts = chain_counts(bench.center, DEVICE)
    assert (counts.expected, counts.stored, counts.missing) == (claim + 1, 2, claim - 1)
    # Once the numbers of the window are settled, the window moves on past them.
    assert bench.ingestor(durable=True).ingest(TOPIC, blobs[2]).status == "stored"
    repair.tick(now + 120)
    repair.tick(now + 121)
    state = json.loads((bench.center.repair / f"{DEVICE}.json").read_text())
    assert state["complete_to"] == 2 and len(state["gaps"]) == repair_module.WINDOW
    assert max(int(seq) for seq in state["gaps"]) == 2 + repair_module.WINDOW


def test_numbers_given_up_on_are_asked_again_when_the_device_speaks(tmp_path: Path) -> None:
    # The broker crashed (no last will: the center still thinks the device online) while the device was off too:
    # the center asked into nothing and gave up. The device's next live status says it is there: ask again.
    # What the device itself said it lost stays lost.
    bench, repair, sent, _ = _setup(tmp_path, [0, 3])
    _status(bench, "online", 3)
    now = _ask_until_given_up(repair)
    state = json.loads((bench.center.repair / f"{DEVICE}.json").read_text())
    assert state["lost"] == {"1": repair_module.GAVE_UP, "2": repair_module.GAVE_UP} and state["complete_to"] == 3
    state["lost"]["2"] = "evicted from the device's retention of shared segments at its cap"
    (bench.center.repair / f"{DEVICE}.json").write_text(json.dumps(state))

    intake = bench.intake()
    intake.repair = repair
    online = {"device_id": DEVICE, "state": "online", "time": now, "shared_seq": 3}
    replayed = InboundMessage(f"rtcc/v1/{DEVICE}/status", json.dumps(online).encode(), True)
    assert intake.handle(replayed) is not None
    assert chain_counts(bench.center, DEVICE).lost == 2  # a retained copy says nothing about now
    live = InboundMessage(f"rtcc/v1/{DEVICE}/status", json.dumps({**online, "time": now + 1}).encode(), False)
    assert intake.handle(live) is not None
    counts = chain_counts(bench.center, DEVICE)
    assert (counts.lost, counts.missing) == (1, 1)
    asked = len(sent.requests)
    repair.tick(now + repair_module.GRACE_S + 1)
    assert len(sent.requests) == asked + 1 and _asked(bench, sent)[-1] == [1]


def test_a_device_settled_as_lost_past_the_cap_gets_no_new_gaps(tmp_path: Path, monkeypatch) -> None:
    # A device claiming a far-off number and answering "lost" to everything would grow its repair state (read every
    # tick, on the thread that ingests every device) without end; past the cap no new gaps are noted for it.
    monkeypatch.setattr(repair_module, "MAX_SETTLED", 2)
    bench, repair, sent, _ = _setup(tmp_path, [0])
    _status(bench, "online", 10)
    now = time.time()
    repair.tick(now)
    repair.tick(now + 60)
    request = parse_resend(verify_document(sent.requests[0]["payload"], load_keys(bench.center).ed25519.public_key()))
    assert request.seqs == tuple(range(1, 11))
    lost = tuple((seq, "never shared: beyond the end of the device's chain") for seq in (1, 2))
    assert repair.learn(DEVICE, _answer(bench, request.id, lost=lost)).status == "new"
    state = json.loads((bench.center.repair / f"{DEVICE}.json").read_text())
    state["gaps"] = {}  # as if the rest were settled too: only new gaps are in question
    (bench.center.repair / f"{DEVICE}.json").write_text(json.dumps(state))
    repair.tick(now + 120)
    state = json.loads((bench.center.repair / f"{DEVICE}.json").read_text())
    assert state["gaps"] == {} and state["full"] is True
    counts = chain_counts(bench.center, DEVICE)
    assert (counts.expected, counts.stored, counts.lost, counts.missing) == (11, 1, 2, 8)


def test_a_gap_past_the_window_stored_meanwhile_is_not_asked_for_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(repair_module, "WINDOW", 2)
    bench, repair, sent, blobs = _setup(tmp_path, [0, 1, 2, 4])
    _status(bench, "online", 5)
    now = time.time()
    for later in (0, 60, 120):  # the window moves up past 0..2 a step at a time
        repair.tick(now + later)
    assert _asked(bench, sent) == [[3]]  # the window: 3 and 4 past the complete prefix 0..2
    # 1 asked again later (as after device_spoke), which moves the window back below the gap at 3.
    state = json.loads((bench.center.repair / f"{DEVICE}.json").read_text())
    state["complete_to"] = 0
    state["gaps"]["1"] = {"since": now, "attempts": 0, "last": 0.0}
    (bench.center.repair / f"{DEVICE}.json").write_text(json.dumps(state))
    assert bench.ingestor(durable=True).ingest(TOPIC, blobs[3]).status == "stored"  # the resent 3 arrives
    repair.tick(now + 600)
    state = json.loads((bench.center.repair / f"{DEVICE}.json").read_text())
    assert "3" not in state["gaps"] and 3 in state["repaired"]
