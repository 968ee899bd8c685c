"""Signed JSON documents: round trip, tampering, wrong keys and junk."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.errors import OpenError, SealError
from edge_agent.seal import canonical_json, sign_document, verify_document
from edge_agent.seal.signed import DOC_CONTEXT

KEY = Ed25519PrivateKey.generate()
DOC: dict[str, Any] = {
    "type": "police_request",
    "request_id": "r-17",
    "window": {"start": 1767225600, "end": 1767229200.5},
    "reason": "burglary at number 12 — Zoë's report",
    "cameras": ["front"],
    "urgent": False,
    "note": None,
}


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é"], "c": {"z": None, "y": True}}) == (
        '{"a":[1.5,"é"],"b":1,"c":{"y":true,"z":null}}'.encode()
    )
    for bad in ({"x": float("nan")}, {"x": b"bytes"}, {1: 2, "1": 3}, {"x": object()}):
        with pytest.raises(SealError):
            canonical_json(bad)


def test_round_trip() -> None:
    wire = sign_document(DOC, KEY)
    assert verify_document(wire, KEY.public_key()) == DOC
    outer = json.loads(wire)
    assert set(outer) == {"doc", "kid", "sig"} and outer["doc"] == DOC
    # The signature covers the context string and the canonical document, nothing else.
    KEY.public_key().verify(base64.b64decode(outer["sig"]), DOC_CONTEXT + canonical_json(DOC))


def test_tampered_document_is_refused() -> None:
    outer = json.loads(sign_document(DOC, KEY))
    for change in ({"request_id": "r-18"}, {"urgent": True}, {"extra": 1}, {"window": {"start": 0, "end": 1}}):
        forged = {**outer, "doc": {**outer["doc"], **change}}
        with pytest.raises(OpenError):
            verify_document(canonical_json(forged), KEY.public_key())
    dropped = {**outer, "doc": {k: v for k, v in outer["doc"].items() if k != "note"}}
    with pytest.raises(OpenError):
        verify_document(canonical_json(dropped), KEY.public_key())


def test_wrong_key_and_forged_kid_are_refused() -> None:
    other = Ed25519PrivateKey.generate()
    wire = sign_document(DOC, KEY)
    with pytest.raises(OpenError):
        verify_document(wire, other.public_key())
    # Signed by another key but claiming this key's id.
    forged = {**json.loads(sign_document(DOC, other)), "kid": json.loads(wire)["kid"]}
    with pytest.raises(OpenError):
        verify_document(canonical_json(forged), KEY.public_key())


def _compact(obj: Any, **options: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, **options).encode("utf-8")


def test_only_the_canonical_encoding_is_accepted() -> None:
    wire = sign_document(DOC, KEY)
    assert verify_document(wire, KEY.public_key()) == DOC
    outer = json.loads(wire)
    reordered_outer = {"sig": outer["sig"], "kid": outer["kid"], "doc": outer["doc"]}
    reordered_doc = {**outer, "doc": dict(reversed(list(outer["doc"].items())))}
    variants = {
        "re-spaced": json.dumps(outer, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8"),
        "default separators": json.dumps(outer, sort_keys=True, ensure_ascii=False).encode("utf-8"),
        "trailing newline": wire + b"\n",
        "leading space": b" " + wire,
        "outer keys reordered": _compact(reordered_outer, ensure_ascii=False),
        "doc keys reordered": _compact(reordered_doc, ensure_ascii=False),
        "non-ASCII escaped": _compact(outer, sort_keys=True, ensure_ascii=True),
        "number respelled": wire.replace(b'"end":1767229200.5', b'"end":17672292005E-1'),
    }
    for name, variant in variants.items():
        assert variant != wire, name
        assert json.loads(variant) == outer, name  # the same document, only encoded differently
        with pytest.raises(OpenError):
            verify_document(variant, KEY.public_key())
    # A bytearray holding the canonical bytes verifies like bytes.
    assert verify_document(bytearray(wire), KEY.public_key()) == DOC
    # A string UTF-8 cannot carry (a lone surrogate escape) cannot be re-encoded: still only OpenError.
    surrogate = wire.replace(b'"note":null', b'"note":"\\ud800"')
    assert surrogate != wire
    with pytest.raises(OpenError):
        verify_document(surrogate, KEY.public_key())


def test_duplicate_keys_are_refused() -> None:
    wire = sign_document(DOC, KEY)
    duplicated = wire.replace(b'"type":"police_request"', b'"type":"consent","type":"police_request"')
    assert duplicated != wire
    with pytest.raises(OpenError):
        verify_document(duplicated, KEY.public_key())


@pytest.mark.parametrize(
    "junk",
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b'{"doc":{},"kid":"x"}',
        b"\xff\xfe",
        b'{"doc":NaN,"kid":"","sig":""}',
        b'{"doc":{"a":1e999},"kid":"","sig":""}',
        b"[" * 100_000,
        b"x" * (2 * 1024 * 1024),
    ],
)
def test_junk_is_refused(junk: bytes) -> None:
    with pytest.raises(OpenError):
        verify_document(junk, KEY.public_key())


def test_sign_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(SealError):
        sign_document({"when": object()}, KEY)
    with pytest.raises(SealError):
        sign_document(["not", "a", "mapping"], KEY)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600), position=st.integers(min_value=0), value=st.integers(0, 255))
def test_fuzzed_bytes_only_raise_open_error(data: bytes, position: int, value: int) -> None:
    wire = bytearray(sign_document(DOC, KEY))
    wire[position % len(wire)] = value
    for candidate in (data, bytes(wire)):
        # Whatever the bytes, the only outcomes are the genuine document or OpenError.
        assert _verify_or_none(candidate) in (None, DOC)


def _verify_or_none(data: bytes) -> dict[str, Any] | None:
    try:
        return verify_document(data, KEY.public_key())
    except OpenError:
        return None
