"""Neighbours' masking requests and answers: the documents, the device's inbox checks, and fuzzing of both
parsers (any input is accepted or refused with ConsentError, nothing else)."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.config.identity import init_identity
from edge_agent.config.models import Zone
from edge_agent.consent.masking import (
    AnswerZone,
    MaskingAnswer,
    Still,
    make_masking_request,
    parse_masking_answer,
    parse_masking_request,
)
from edge_agent.consent.masking_inbox import MaskingInbox
from edge_agent.consent.rejections import RejectionLog
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConsentError
from edge_agent.seal.signed import sign_document

KEY = Ed25519PrivateKey.generate()
NEIGHBOUR = Zone(name="number-14", kind="neighbour", coordinates=[(0.1, 0.1), (0.4, 0.1), (0.4, 0.4)])
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _still() -> Still:
    ok, data = cv2.imencode(".jpg", np.zeros((36, 64, 3), np.uint8))
    assert ok
    return Still(data.tobytes(), 64, 36)


def _answer(**change: Any) -> dict[str, Any]:
    answer = MaskingAnswer("door-1", "m-0123456789abcdef", "masked", "", (AnswerZone("number-14", ((0.1, 0.1),
                           (0.4, 0.1), (0.4, 0.4))),), "a" * 64, _still(), (), 1_800_000_000.0)
    return {**answer.to_doc(), **change}


@pytest.fixture
def inbox(tmp_path: Path) -> MaskingInbox:
    paths = DevicePaths(tmp_path / "d")
    init_identity(paths, "door-1")
    return MaskingInbox(paths)


def test_a_request_is_checked_then_answered_once(inbox: MaskingInbox) -> None:
    now = time.time()
    request, wire = make_masking_request(KEY, device_id="door-1", center_id="c", property="14 Elm St",
                                         description="the driveway", now=now)
    assert inbox.authentic(wire, KEY.public_key(), "door-1", now) == request
    entry = inbox.accept(request, now)
    assert inbox.authentic(wire, KEY.public_key(), "door-1", now) is None  # sent again: quietly the same one
    (inbox.folder / f"{entry.id}.json").rename(inbox.folder / "moved")
    with pytest.raises(ConsentError, match="replay"):  # an id or nonce seen before, not in the inbox: a replay
        inbox.authentic(wire, KEY.public_key(), "door-1", now)
    (inbox.folder / "moved").rename(inbox.folder / f"{entry.id}.json")
    with pytest.raises(ConsentError, match="another device"):
        inbox.authentic(make_masking_request(KEY, device_id="door-2", center_id="c", property="x",
                                             description="", now=now)[1], KEY.public_key(), "door-1", now)
    with pytest.raises(ConsentError, match="signature"):
        inbox.authentic(wire, Ed25519PrivateKey.generate().public_key(), "door-1", now)
    with pytest.raises(ConsentError, match="stale"):
        inbox.authentic(make_masking_request(KEY, device_id="door-1", center_id="c", property="x", description="",
                                             ttl_s=60, now=now - 120)[1], KEY.public_key(), "door-1", now)
    public = Zone(name="street", kind="public", coordinates=[(0, 0.6), (1, 0.6), (1, 1)])
    with pytest.raises(ConsentError, match="a public zone"):
        inbox.mask(entry.id, ["street"], [public, NEIGHBOUR])
    with pytest.raises(ConsentError, match="not a zone in force"):
        inbox.mask(entry.id, ["number-16"], [NEIGHBOUR])
    with pytest.raises(ConsentError, match="say why"):
        inbox.decline(entry.id, "  ")
    assert inbox.mask(entry.id, ["number-14"], [NEIGHBOUR]).state == "masked"
    with pytest.raises(ConsentError, match="already masked"):
        inbox.decline(entry.id, "changed my mind")
    kinds = [e["kind"] for e in AuditLog(inbox.audit.path).entries()]
    assert kinds == ["masking_received", "masking_answered"]


def test_unanswered_requests_expire(inbox: MaskingInbox) -> None:
    now = time.time()
    request, _ = make_masking_request(KEY, device_id="door-1", center_id="c", property="x", description="",
                                      ttl_s=600, now=now)
    inbox.accept(request, now)
    assert inbox.expire_due(now + 601)[0].state == "expired"
    with pytest.raises(ConsentError, match="already expired"):
        inbox.mask(request.id, ["number-14"], [NEIGHBOUR], now=now + 700)


def test_answers_are_checked_field_by_field() -> None:
    assert parse_masking_answer(_answer()).zones[0].name == "number-14"
    for change, problem in (
        ({"still": None}, "carries a still"),
        ({"zones": []}, "names its zones"),
        ({"decision": "declined", "zones": [], "still": None}, "gives a reason"),
        ({"decision": "declined", "reason": "no"}, "only a 'masked' answer names zones"),
        ({"decision": "maybe"}, "decision"),
        ({"zones": [{"name": "x", "coordinates": [[0, 0], [1, 1]]}]}, "at least 3"),
        ({"zones": [{"name": "x", "coordinates": [[0, 0], [2, 1], [1, 1]]}]}, "x"),
        ({"extra": 1}, "unknown field"),
    ):
        with pytest.raises(ConsentError, match=problem):
            parse_masking_answer(_answer(**change))
    still = _answer()["still"]
    swapped = {**still, "jpeg": base64.b64encode(b"\xff\xd8 another picture").decode()}
    with pytest.raises(ConsentError, match="not the JPEG its hash names"):
        parse_masking_answer(_answer(still=swapped))


def test_rejections_are_audited_at_a_bounded_rate(tmp_path: Path) -> None:
    now = [0.0]
    audit = AuditLog(tmp_path / "audit.log")
    log = RejectionLog(audit, "masking_rejected", window_s=60, per_window=5, clock=lambda: now[0])
    written = sum(log.note(f"junk {i}") for i in range(1000))
    assert written == 5 and len(list(audit.entries())) == 5
    log.flush()  # the window is still open: nothing yet
    now[0] = 61.0
    log.flush()
    entries = list(audit.entries())
    assert len(entries) == 6 and entries[-1]["suppressed_before"] == 995
    log.note("later")
    assert "suppressed_before" not in list(audit.entries())[-1]
    assert log.total == 1001


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["id", "device_id", "property", "description", "area", "nonce", "issued_at",
                            "respond_by", "type", "center_id"]), value=JSONISH)
def test_signed_requests_with_hostile_fields(inbox: MaskingInbox, key: str, value: Any) -> None:
    now = time.time()
    request, _ = make_masking_request(KEY, device_id="door-1", center_id="c", property="p", description="d", now=now)
    doc = {**request.to_doc(), key: value}
    try:
        wire = sign_document(doc, KEY)
    except Exception:  # a value JSON cannot carry (NaN): the center could not have sent it either
        return
    with contextlib.suppress(ConsentError):
        inbox.authentic(wire, KEY.public_key(), "door-1", now)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600) | JSONISH.map(lambda v: json.dumps(v, default=str).encode()))
def test_arbitrary_bytes_and_documents(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    paths = DevicePaths(tmp_path_factory.mktemp("fuzz"))
    with contextlib.suppress(ConsentError):
        MaskingInbox(paths).authentic(data, KEY.public_key(), "door-1", time.time())
    for parse in (parse_masking_request, parse_masking_answer):
        with contextlib.suppress(ConsentError, ValueError):
            parse(json.loads(data))


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(sorted(_answer())), value=JSONISH)
def test_answers_with_hostile_fields(key: str, value: Any) -> None:
    with contextlib.suppress(ConsentError):
        parse_masking_answer(_answer(**{key: value}))
