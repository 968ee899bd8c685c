"""Envelope round trips and every rejection path, checked on real keys and real bytes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from seal_helpers import DEVICE_ID, Keys, SealFn, make_segment, payload, resign, split

from edge_agent.errors import OpenError, SealError
from edge_agent.seal import (
    Recipient,
    open_segment,
    peek_device_id,
    seal_segment,
    verify_segment,
)
from edge_agent.seal import envelope as envelope_module
from edge_agent.seal import stream as stream_module


def _rejects(blob: Any, keys: Keys, private_key: X25519PrivateKey | None = None) -> None:
    with pytest.raises(OpenError) as info:
        open_segment(blob, private_key=private_key or keys.center, device_key=keys.lookup)
    # One opaque error: same message, nothing chained that could tell which check failed.
    assert str(info.value) == "envelope rejected"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None


def test_round_trip_for_center_and_archive(keys: Keys, seal: SealFn) -> None:
    data = payload(300_000)
    sealed = seal(data, seq=7)
    assert data not in sealed.blob and data[:4096] not in sealed.blob
    for private in (keys.center, keys.archive):
        opened = open_segment(sealed.blob, private_key=private, device_key=keys.lookup)
        assert opened.plaintext == data
        assert opened.header.meta == make_segment(data, seq=7).meta
        assert opened.header.consent_id == "consent-1"
        assert opened.header_hash == sealed.header_hash
        assert opened.sealed_sha256 == hashlib.sha256(sealed.blob).hexdigest()
        assert opened.header.plaintext_len == len(data)
    assert sealed.meta == make_segment(data, seq=7).meta and sealed.consent_id == "consent-1"


def test_header_is_canonical_json_and_hash_chains(keys: Keys, seal: SealFn) -> None:
    first = seal(b"one", seq=0)
    second = seal(b"two", seq=1, prev_hash=first.header_hash)
    header, _, _ = split(second.blob)
    doc = json.loads(header)
    assert header == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert doc["prev_hash"] == hashlib.sha256(split(first.blob)[0]).hexdigest() == first.header_hash
    assert doc["device_id"] == DEVICE_ID and doc["seq"] == 1 and doc["version"] == 1
    assert {entry["kid"] for entry in doc["recipients"]} == {r.kid for r in keys.recipients}
    assert verify_segment(second.blob, device_key=keys.lookup).prev_hash == first.header_hash


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 1000])
def test_chunk_boundaries_round_trip(keys: Keys, seal: SealFn, size: int) -> None:
    sealed = seal(payload(size), chunk_size=64)
    chunks = max(1, -(-size // 64))
    assert len(split(sealed.blob)[1]) == size + 16 * chunks
    assert open_segment(sealed.blob, private_key=keys.archive, device_key=keys.lookup).plaintext == payload(size)


def test_each_seal_uses_a_fresh_content_key(keys: Keys, seal: SealFn) -> None:
    a, b = seal(b"same"), seal(b"same")
    assert split(a.blob)[1] != split(b.blob)[1]
    assert json.loads(split(a.blob)[0])["key_commitment"] != json.loads(split(b.blob)[0])["key_commitment"]


def test_wrong_recipient_key(keys: Keys, seal: SealFn) -> None:
    _rejects(seal(b"video").blob, keys, keys.stranger)


def test_unknown_device_and_bad_signature(keys: Keys, seal: SealFn) -> None:
    blob = seal(b"video").blob
    with pytest.raises(OpenError):
        open_segment(blob, private_key=keys.center, device_key=lambda _: None)
    impostor = Ed25519PrivateKey.generate()
    with pytest.raises(OpenError):
        open_segment(blob, private_key=keys.center, device_key=lambda _: impostor.public_key())
    with pytest.raises(OpenError):
        verify_segment(blob, device_key=lambda _: impostor.public_key())


def test_peek_device_id(keys: Keys, seal: SealFn) -> None:
    blob = seal(b"video").blob
    assert peek_device_id(blob) == DEVICE_ID
    for junk in (b"", b"EDGESEAL", blob[:30], b"x" * 200):
        with pytest.raises(OpenError):
            peek_device_id(junk)


def test_signature_is_checked_before_any_decryption(keys: Keys, seal: SealFn, monkeypatch: pytest.MonkeyPatch) -> None:
    """A blob whose body and key wraps are perfectly valid, signed by the wrong key, never reaches a decrypt."""
    calls: list[str] = []
    real_suite, real_chacha = envelope_module._SUITE, stream_module.ChaCha20Poly1305

    class CountingSuite:
        def decrypt(self, ct: bytes, key: X25519PrivateKey, info: bytes) -> bytes:
            calls.append("hpke")
            return real_suite.decrypt(ct, key, info)

        def encrypt(self, pt: bytes, key: X25519PublicKey, info: bytes) -> bytes:
            return real_suite.encrypt(pt, key, info)

    class CountingChaCha:
        def __init__(self, key: bytes) -> None:
            self._aead = real_chacha(key)

        def encrypt(self, nonce: bytes, data: Any, aad: bytes) -> bytes:
            return self._aead.encrypt(nonce, data, aad)

        def decrypt(self, nonce: bytes, data: Any, aad: bytes) -> bytes:
            calls.append("chunk")
            return self._aead.decrypt(nonce, data, aad)

    monkeypatch.setattr(envelope_module, "_SUITE", CountingSuite())
    monkeypatch.setattr(stream_module, "ChaCha20Poly1305", CountingChaCha)
    good = seal(payload(200), chunk_size=64)
    header, body, _ = split(good.blob)
    forged = resign(header, body, Ed25519PrivateKey.generate())  # valid body, signature from another key
    _rejects(forged, keys)
    assert calls == []
    # The same counters do see decryption of the genuine blob: the hooks are live.
    assert open_segment(good.blob, private_key=keys.center, device_key=keys.lookup).plaintext == payload(200)
    assert calls == ["hpke", "chunk", "chunk", "chunk", "chunk"]


def test_every_single_byte_flip_is_rejected(keys: Keys, seal: SealFn) -> None:
    blob = seal(payload(150), chunk_size=64).blob
    for index in range(len(blob)):  # every byte: prefix, header, body and signature
        for mask in (0x01, 0x80):
            damaged = bytearray(blob)
            damaged[index] ^= mask
            _rejects(bytes(damaged), keys)


def test_truncation_at_every_length_and_appended_bytes(keys: Keys, seal: SealFn) -> None:
    blob = seal(payload(150), chunk_size=64).blob
    for length in range(len(blob)):
        _rejects(blob[:length], keys)
    for extra in (b"\x00", b"\x00" * 64, blob[-64:], blob):
        _rejects(blob + extra, keys)


def test_reordered_dropped_and_repeated_chunks_fail_even_when_resigned(keys: Keys, seal: SealFn) -> None:
    """With a valid device signature over the damaged body, the chunk nonces alone must catch the damage."""
    sealed = seal(payload(200), chunk_size=64)
    header, body, _ = split(sealed.blob)
    chunks = [body[i : i + 80] for i in range(0, 240, 80)] + [body[240:]]
    assert [len(c) for c in chunks] == [80, 80, 80, 24]
    for order in ([1, 0, 2, 3], [0, 2, 1, 3], [0, 0, 2, 3], [3, 1, 2, 0]):
        reordered = b"".join(chunks[i] for i in order)
        if len(reordered) == len(body):
            _rejects(resign(header, reordered, keys.device), keys)
    # Drop the last chunk and fix every length so that framing and header agree: chunk 2 is not marked last.
    doc = json.loads(header)
    doc["plaintext_len"] = 192
    shorter = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    _rejects(resign(shorter, b"".join(chunks[:3]), keys.device), keys)
    # Same, keeping the original header: the declared body length no longer matches.
    _rejects(resign(header, b"".join(chunks[:3]), keys.device), keys)
    # Sanity: re-signing the untouched parts still opens, so the rejections above are about the chunks.
    assert open_segment(resign(header, body, keys.device), private_key=keys.center, device_key=keys.lookup)


def test_wraps_cannot_move_between_recipients_or_segments(keys: Keys, seal: SealFn) -> None:
    header, body, _ = split(seal(b"video", seq=3).blob)
    doc = json.loads(header)
    center_entry, archive_entry = doc["recipients"]
    # The archive's wrap filed under the center's key id: HPKE info names the kid, so it does not unwrap.
    doc["recipients"] = [{"kid": center_entry["kid"], "wrapped": archive_entry["wrapped"]}]
    moved = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    _rejects(resign(moved, body, keys.device), keys)
    # A wrap lifted from segment 3 into a header that says seq 4: HPKE info names the seq.
    doc = json.loads(header)
    doc["seq"] = 4
    relabelled = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    _rejects(resign(relabelled, body, keys.device), keys)


def test_header_limits(keys: Keys, seal: SealFn) -> None:
    header, body, _ = split(seal(b"video").blob)
    doc = json.loads(header)
    doc["consent_id"] = "c" * 70_000
    huge = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    _rejects(resign(huge, body, keys.device), keys)
    huge = 10**400  # a valid JSON integer that no float can hold
    for bad in (
        {"seq": -1},
        {"seq": True},
        {"seq": huge},
        {"fps": "25"},
        {"fps": huge},
        {"start": -huge},
        {"created_at": huge},
        {"chunk_size": 1},
        {"prev_hash": "00"},
    ):
        _rejects(resign(json.dumps({**json.loads(header), **bad}).encode(), body, keys.device), keys)


def test_seal_refuses_bad_input_with_a_named_problem(keys: Keys) -> None:
    segment = make_segment(b"video")
    center = [Recipient(keys.center.public_key())]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"consent_id": "", "prev_hash": "", "recipients": center}, "consent_id"),
        ({"consent_id": "c", "prev_hash": "xyz", "recipients": center}, "prev_hash"),
        ({"consent_id": "c", "prev_hash": "", "recipients": []}, "no recipients"),
        ({"consent_id": "c", "prev_hash": "", "recipients": center * 2}, "listed twice"),
        (
            {
                "consent_id": "c",
                "prev_hash": "",
                "recipients": [Recipient(X25519PublicKey.from_public_bytes(bytes(32)))],
            },
            "not usable",
        ),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(SealError, match=fragment):
            seal_segment(segment, signer=keys.device, **kwargs)
    bad_meta = make_segment(b"video", seq=-1)
    with pytest.raises(SealError, match="seq"):
        seal_segment(bad_meta, consent_id="c", prev_hash="", signer=keys.device, recipients=center)


def test_non_bytes_input_is_rejected(keys: Keys) -> None:
    for junk in (None, "EDGESEAL", 42, [1, 2, 3]):
        _rejects(junk, keys)
