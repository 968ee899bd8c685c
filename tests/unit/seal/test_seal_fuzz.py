"""Fuzzing the opener: whatever the bytes, the only outcomes are the genuine plaintext or OpenError."""

from __future__ import annotations

import json
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from seal_helpers import Keys, make_sealer, payload, resign, split

from edge_agent.errors import OpenError
from edge_agent.seal import EnvelopeHeader, open_segment, peek_device_id, verify_segment

KEYS = Keys.generate()
PLAINTEXT = payload(300)
BLOB = make_sealer(KEYS)(PLAINTEXT, chunk_size=64).blob
HEADER, BODY, _ = split(BLOB)
PREFIX = struct.Struct(">8sHIQ")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def _outcome(blob: bytes) -> bytes | None:
    """Open ``blob``; ``None`` for OpenError. Any other exception fails the test."""
    try:
        plaintext = open_segment(blob, private_key=KEYS.center, device_key=KEYS.lookup).plaintext
    except OpenError:
        return None
    return plaintext


def _verified(blob: bytes) -> EnvelopeHeader | None:
    try:
        return verify_segment(blob, device_key=KEYS.lookup)
    except OpenError:
        return None


def _peeked(blob: bytes) -> str | None:
    try:
        return peek_device_id(blob)
    except OpenError:
        return None


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    assert _outcome(data) is None
    assert _verified(data) is None
    assert _peeked(data) in (None, "doorbell-01")


@settings(max_examples=150, deadline=None)
@given(header_len=st.integers(0, 2**32 - 1), body_len=st.integers(0, 2**64 - 1), rest=st.binary(max_size=600))
def test_well_framed_junk(header_len: int, body_len: int, rest: bytes) -> None:
    """Get past the magic and version check so the length checks and the parser see the junk."""
    blob = PREFIX.pack(b"EDGESEAL", 1, header_len, body_len) + rest
    assert _outcome(blob) is None and _verified(blob) is None and _peeked(blob) is None


mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, len(BLOB) - 1), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, len(BLOB)), st.binary(min_size=1, max_size=80)),
    st.tuples(st.just("delete"), st.integers(0, len(BLOB) - 1), st.integers(1, 200)),
    st.tuples(st.just("truncate"), st.integers(0, len(BLOB) - 1), st.just(0)),
    st.tuples(st.just("repeat"), st.integers(0, len(BLOB) - 1), st.integers(1, 200)),
)


def _apply(blob: bytes, ops: list[tuple[str, int, Any]]) -> bytes:
    data = bytearray(blob)
    for op, where, arg in ops:
        at = min(where, len(data))
        if op == "set" and at < len(data):
            data[at] = arg
        elif op == "insert":
            data[at:at] = arg
        elif op == "delete":
            del data[at : at + arg]
        elif op == "truncate":
            del data[at:]
        elif op == "repeat":
            data[at:at] = data[at : at + arg]
    return bytes(data)


@settings(max_examples=250, deadline=None)
@given(ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutations_of_a_valid_blob(ops: list[tuple[str, int, Any]]) -> None:
    mutated = _apply(BLOB, ops)
    expected = PLAINTEXT if mutated == BLOB else None
    assert _outcome(mutated) == expected
    assert (_verified(mutated) is not None) == (mutated == BLOB)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(sorted(json.loads(HEADER))) | st.text(max_size=10), value=json_values)
def test_resigned_header_changes(key: str, value: Any) -> None:
    """Even with a valid device signature, a changed header never decrypts (it is every chunk's AAD)."""
    doc = json.loads(HEADER)
    doc[key] = value
    header = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    blob = resign(header, BODY, KEYS.device)
    if header == HEADER:
        assert _outcome(blob) == PLAINTEXT
    else:
        assert _outcome(blob) is None
    verified = _verified(blob)
    assert verified is None or isinstance(verified, EnvelopeHeader)
