"""A compromised but enrolled device signs poison with its real key: each message is refused (counted, one line in
rejected.jsonl) before anything of it is written, none raises, and another device's segments are still stored."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge_agent.center.files import write_private
from edge_agent.center.intake import Intake
from edge_agent.center.keys import load_keys
from edge_agent.config.identity import load_identity
from edge_agent.consent.requests import make_request
from edge_agent.consent.state import OFF_RECORD, live_record, sign_record
from edge_agent.transport.model import InboundMessage
from tests.unit.center.center_helpers import DEVICE, Bench, make_bench, raw_segments
from tests.unit.center.poison import all_poison, loghead

OTHER = "other-device"


def _msg(device: str, kind: str, payload: bytes) -> InboundMessage:
    return InboundMessage(f"rtcc/v1/{device}/{kind}", payload, False)


def _sent_request(bench: Bench, now: float) -> str:
    request, signed = make_request(load_keys(bench.center).ed25519, device_id=DEVICE, center_id="unit-center",
                                   start=now - 60, end=now - 10, case_id="CASE-1", reason="burglary", now=now)
    write_private(bench.center.root / "requests" / DEVICE / f"{request.id}.json", signed)
    return request.id


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _store_other_device(bench: Bench, intake: Intake, now: float) -> list[str]:
    other = bench.device.root.parent / OTHER
    key = load_identity(type(bench.device)(other)).signing_key
    record = live_record(now - 30, now + 600, OFF_RECORD, 8.0)
    assert intake.handle(_msg(OTHER, "consent", sign_record(record, OTHER, key))).status == "accepted"
    blobs = bench.sealed(3, now - 20, consent_id=record.id, device=type(bench.device)(other), device_id=OTHER)
    return [r.status for r in (intake.handle(_msg(OTHER, "segments", b)) for b in blobs) if r is not None]


@pytest.fixture
def poisoned(tmp_path: Path) -> tuple[Bench, Intake, list[tuple[str, bytes, str]], float]:
    bench = make_bench(tmp_path)
    bench.enroll(OTHER)
    intake = bench.intake()
    key = load_identity(bench.device).signing_key
    now = time.time()
    request_id = _sent_request(bench, now)
    head = intake.handle(_msg(DEVICE, "loghead", loghead(DEVICE, key, 10, "a" * 64, round(now, 3))))
    assert head is not None and head.status == "accepted"
    template = raw_segments(1, now - 5)[0]
    return bench, intake, all_poison(DEVICE, key, bench.recipients, template, request_id, OTHER, now), now


def test_every_poison_message_is_refused_before_anything_is_written(poisoned) -> None:
    bench, intake, poison, _ = poisoned
    before = _files(bench.center.root)
    for kind, payload, label in poison:
        result = intake.handle(_msg(DEVICE, kind, payload))
        assert result is not None and result.status == "rejected", (label, result)
    written = _files(bench.center.root) - before
    assert written == {"rejected.jsonl"}, written
    lines = [json.loads(line) for line in (bench.center.root / "rejected.jsonl").read_text().splitlines()]
    assert len(lines) == 30 and {line["device_id"] for line in lines} == {DEVICE}
    assert intake.counts["rejected"] == 30 and intake.counts["set-aside"] == 0


def test_the_reasons_name_the_problem(poisoned) -> None:
    _, intake, poison, _ = poisoned
    reasons = {label: intake.handle(_msg(DEVICE, kind, payload)).reason  # type: ignore[union-attr]
               for kind, payload, label in poison}
    assert "issued_at" in reasons["issued_at = 10**400"]
    assert "expiry" in reasons["live grant with expires_at null"]
    assert "expiry" in reasons["live grant of 30 days"]
    assert "segments" in reasons["segments is a number"]
    assert "never sent" in reasons["answer to a request never sent"]
    assert "backwards" in reasons["an old head replayed"]
    assert "conflicts" in reasons["a head conflicting with the known one"]
    assert reasons["start = -1e300"] == "timestamp too old"
    assert reasons["end = 1e300"] == "timestamp in the future"
    assert "out of order" in reasons["ends before it starts"]
    assert "content type" in reasons["an ffconcat script"]
    assert "frame count" in reasons["frame count of 999"]
    assert reasons["claims another device's id"] == "envelope rejected"


def test_another_device_is_stored_after_the_poison(poisoned) -> None:
    bench, intake, poison, now = poisoned
    for kind, payload, _ in poison:
        intake.handle(_msg(DEVICE, kind, payload))
    assert _store_other_device(bench, intake, now) == ["stored"] * 3


def test_a_message_that_keeps_failing_is_set_aside_and_answered(poisoned, monkeypatch) -> None:
    """A bug (here: an exception the ingest never raises on purpose) is tried again, then set aside; the next
    message is handled as usual."""
    bench, intake, _, now = poisoned
    calls = []

    def broken(topic: str, payload: bytes, now: float | None = None) -> None:
        calls.append(topic)
        raise ZeroDivisionError("a bug")

    original = intake.ingestor.ingest
    monkeypatch.setattr(intake.ingestor, "ingest", broken)
    blob = bench.sealed(1, now - 5)[0]
    result = intake.handle(_msg(DEVICE, "segments", blob))
    assert result is not None and result.status == "set-aside" and len(calls) == intake.tries
    [kept] = intake.deadletters.items()
    head, _, body = kept.read_bytes().partition(b"\n")
    assert body == blob and "ZeroDivisionError" in json.loads(head)["reason"]
    monkeypatch.setattr(intake.ingestor, "ingest", original)
    assert _store_other_device(bench, intake, now) == ["stored"] * 3


def test_the_dead_letter_folder_is_bounded(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    letters = bench.intake().deadletters
    letters.max_items, letters.max_bytes = 5, 10_000
    for i in range(12):
        letters.put("rtcc/v1/x/segments", bytes([i]) * 1500, "bug")
    kept = letters.items()
    assert len(kept) <= 5 and sum(p.stat().st_size for p in kept) <= 10_000
    assert kept[-1].read_bytes().endswith(bytes([11]) * 1500)  # the newest stay
