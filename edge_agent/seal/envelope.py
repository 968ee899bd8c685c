"""Seal one redacted segment for its recipients, and open or verify a sealed one.

Layout (all integers big-endian; ``docs/envelope.md`` is the full specification)::

    magic "EDGESEAL" (8) | version u16 | header_len u32 | body_len u64 | header | body | Ed25519 signature (64)

The signature covers every byte before it. Opening checks the framing, parses the header, looks up the
device's key, verifies the signature and only then unwraps the content key and decrypts the body. Every
failure raises the same :class:`OpenError`, with no chained cause, so a caller learns nothing about which
check failed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from edge_agent.config.keys import key_id, x25519_public_bytes
from edge_agent.core.canon import canonical_json
from edge_agent.errors import OpenError, SealError
from edge_agent.seal.header import (
    DEFAULT_CHUNK,
    MAX_HEADER_LEN,
    VERSION,
    EnvelopeHeader,
    RecipientEntry,
    decode_header,
    encode_header,
)
from edge_agent.seal.stream import (
    CONTENT_KEY_LEN,
    body_key,
    body_len,
    decrypt_body,
    encrypt_body,
    key_commitment,
)
from edge_agent.segment.model import Segment, SegmentMeta

log = logging.getLogger(__name__)

MAGIC = b"EDGESEAL"
PREFIX = struct.Struct(">8sHIQ")
SIG_LEN = 64

_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)

DeviceKeyLookup = Callable[[str], Ed25519PublicKey | None]
# (content key, recipient public key, HPKE info) -> enc || ciphertext. Injectable so that test vectors can use
# a fixed ephemeral key; production always uses the library's HPKE with fresh randomness.
KeyWrapper = Callable[[bytes, X25519PublicKey, bytes], bytes]


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone who can open the segment: the crime center, or the homeowner's archive key."""

    key: X25519PublicKey

    @property
    def kid(self) -> str:
        return key_id(x25519_public_bytes(self.key))


@dataclass(frozen=True, slots=True)
class SealedSegment:
    meta: SegmentMeta
    consent_id: str
    header_hash: str  # hex SHA-256 of the header bytes: the next segment's prev_hash
    blob: bytes


@dataclass(frozen=True, slots=True)
class OpenedSegment:
    header: EnvelopeHeader
    plaintext: bytes
    header_hash: str
    sealed_sha256: str  # hex SHA-256 of the whole blob, for evidence records


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: EnvelopeHeader
    header_hash: bytes
    signed: memoryview
    body: memoryview
    signature: bytes


def hpke_info(device_id: str, seq: int, kid: str) -> bytes:
    """HPKE ``info`` for one key wrap: binds it to this device, this segment and this recipient."""
    return MAGIC + VERSION.to_bytes(2, "big") + canonical_json({"device_id": device_id, "kid": kid, "seq": seq})


def _hpke_wrap(content_key: bytes, public_key: X25519PublicKey, info: bytes) -> bytes:
    return _SUITE.encrypt(content_key, public_key, info)


def seal_segment(
    segment: Segment,
    *,
    consent_id: str,
    prev_hash: str,
    signer: Ed25519PrivateKey,
    recipients: Sequence[Recipient],
) -> SealedSegment:
    """Encrypt ``segment`` for ``recipients`` with a fresh content key and sign it with the device key."""
    return build_envelope(
        segment,
        consent_id=consent_id,
        prev_hash=prev_hash,
        signer=signer,
        recipients=recipients,
        content_key=os.urandom(CONTENT_KEY_LEN),
        created_at=round(time.time(), 3),
        wrap=_hpke_wrap,
    )


def _wrap_all(
    meta: SegmentMeta, recipients: Sequence[Recipient], content_key: bytes, wrap: KeyWrapper
) -> tuple[RecipientEntry, ...]:
    if not recipients:
        raise SealError(f"cannot seal segment {meta.seq}: no recipients")
    entries: list[RecipientEntry] = []
    for recipient in recipients:
        kid = recipient.kid
        if any(entry.kid == kid for entry in entries):
            raise SealError(f"cannot seal segment {meta.seq}: recipient key {kid} is listed twice")
        try:
            wrapped = wrap(content_key, recipient.key, hpke_info(meta.device_id, meta.seq, kid))
        except ValueError:  # a low-order X25519 point gives an all-zero shared secret
            raise SealError(f"cannot seal segment {meta.seq}: recipient key {kid} is not usable") from None
        entries.append(RecipientEntry(kid=kid, wrapped=wrapped))
    return tuple(entries)


def _make_header(
    meta: SegmentMeta,
    plaintext_len: int,
    *,
    consent_id: str,
    prev_hash: str,
    created_at: float,
    chunk_size: int,
    commitment: bytes,
    entries: tuple[RecipientEntry, ...],
) -> bytes:
    try:
        header = EnvelopeHeader(
            version=VERSION,
            device_id=meta.device_id,
            seq=meta.seq,
            start=float(meta.start),
            end=float(meta.end),
            frame_count=meta.frame_count,
            width=meta.width,
            height=meta.height,
            fps=float(meta.fps),
            content_type=meta.content_type,
            profile_hash=meta.profile_hash,
            consent_id=consent_id,
            prev_hash=prev_hash,
            created_at=float(created_at),
            chunk_size=chunk_size,
            plaintext_len=plaintext_len,
            key_commitment=commitment.hex(),
            recipients=entries,
        )
        return encode_header(header)
    except (TypeError, ValueError) as exc:
        raise SealError(f"cannot seal segment {meta.seq}: {exc}") from None


def build_envelope(
    segment: Segment,
    *,
    consent_id: str,
    prev_hash: str,
    signer: Ed25519PrivateKey,
    recipients: Sequence[Recipient],
    content_key: bytes,
    created_at: float,
    wrap: KeyWrapper,
    chunk_size: int = DEFAULT_CHUNK,
) -> SealedSegment:
    """The deterministic core of :func:`seal_segment`: all randomness comes in through the arguments."""
    if len(content_key) != CONTENT_KEY_LEN:
        raise SealError(f"content key must be {CONTENT_KEY_LEN} bytes")
    meta = segment.meta
    entries = _wrap_all(meta, recipients, content_key, wrap)
    header_bytes = _make_header(
        meta,
        len(segment.data),
        consent_id=consent_id,
        prev_hash=prev_hash,
        created_at=created_at,
        chunk_size=chunk_size,
        commitment=key_commitment(content_key),
        entries=entries,
    )
    header_hash = hashlib.sha256(header_bytes).digest()
    body = encrypt_body(body_key(content_key), segment.data, chunk_size, header_hash)
    signed = b"".join((PREFIX.pack(MAGIC, VERSION, len(header_bytes), len(body)), header_bytes, body))
    blob = signed + signer.sign(signed)
    log.debug("sealed segment %s for %d recipients: %d bytes", meta.seq, len(entries), len(blob))
    return SealedSegment(meta=meta, consent_id=consent_id, header_hash=header_hash.hex(), blob=blob)


HEAD_MAX = PREFIX.size + MAX_HEADER_LEN  # enough leading bytes of any envelope for :func:`peek_head`


def peek_head(head: bytes | memoryview, total_len: int) -> EnvelopeHeader:
    """The header of an envelope of ``total_len`` bytes, from its leading bytes (``HEAD_MAX`` always suffice).

    Checks the framing against ``total_len`` and the header's fields; nothing is verified. Lets a receiver refuse
    what cannot be a sealed segment before it reads the whole of it into memory. Raises :class:`OpenError` only.
    """
    if len(head) < PREFIX.size or total_len < PREFIX.size + SIG_LEN:
        raise OpenError()
    magic, version, header_len, declared_body = PREFIX.unpack_from(head)
    if magic != MAGIC or version != VERSION or not 1 <= header_len <= MAX_HEADER_LEN:
        raise OpenError()
    if PREFIX.size + header_len + declared_body + SIG_LEN != total_len or len(head) < PREFIX.size + header_len:
        raise OpenError()
    header = decode_header(bytes(head[PREFIX.size : PREFIX.size + header_len]))
    if body_len(header.plaintext_len, header.chunk_size) != declared_body:
        raise OpenError()
    return header


def _parse(blob: bytes) -> _Parsed:
    """Check the framing and the header; nothing is verified yet."""
    if not isinstance(blob, bytes | bytearray):
        raise OpenError()
    view = memoryview(blob)
    header = peek_head(view[:HEAD_MAX], len(blob))
    header_end = PREFIX.size + PREFIX.unpack_from(blob)[2]
    return _Parsed(
        header=header,
        header_hash=hashlib.sha256(view[PREFIX.size : header_end]).digest(),
        signed=view[: len(blob) - SIG_LEN],
        body=view[header_end : len(blob) - SIG_LEN],
        signature=bytes(view[len(blob) - SIG_LEN :]),
    )


def _verified(blob: bytes, device_key: DeviceKeyLookup) -> _Parsed:
    parsed = _parse(blob)
    public = device_key(parsed.header.device_id)
    if public is None:
        raise OpenError()
    try:
        public.verify(parsed.signature, parsed.signed)
    except InvalidSignature:
        raise OpenError() from None
    return parsed


def peek_device_id(blob: bytes) -> str:
    """The device id in the header, for routing and key lookup. Not verified: do not trust it further."""
    return _parse(blob).header.device_id


def verify_segment(blob: bytes, *, device_key: DeviceKeyLookup) -> EnvelopeHeader:
    """Check framing, header and device signature without decrypting (for relays and audits)."""
    return _verified(blob, device_key).header


def _unwrap(parsed: _Parsed, private_key: X25519PrivateKey) -> bytes:
    """The content key, unwrapped for ``private_key`` and checked against the signed commitment."""
    header = parsed.header
    kid = key_id(x25519_public_bytes(private_key.public_key()))
    entry = header.entry_for(kid)
    if entry is None:
        raise OpenError()
    try:
        content_key = _SUITE.decrypt(entry.wrapped, private_key, hpke_info(header.device_id, header.seq, kid))
    except (InvalidTag, ValueError):
        raise OpenError() from None
    if len(content_key) != CONTENT_KEY_LEN or not hmac.compare_digest(
        key_commitment(content_key), bytes.fromhex(header.key_commitment)
    ):
        raise OpenError()
    return bytes(content_key)


def open_segment(blob: bytes, *, private_key: X25519PrivateKey, device_key: DeviceKeyLookup) -> OpenedSegment:
    """Verify the device signature, then unwrap the content key for ``private_key`` and decrypt the body.

    ``device_key`` maps a device id to its Ed25519 public key, or ``None`` for an unknown device.
    """
    parsed = _verified(blob, device_key)
    header = parsed.header
    content_key = _unwrap(parsed, private_key)
    try:
        plaintext = decrypt_body(
            body_key(content_key), parsed.body, header.plaintext_len, header.chunk_size, parsed.header_hash
        )
    except (InvalidTag, ValueError):
        raise OpenError() from None
    return OpenedSegment(
        header=header,
        plaintext=plaintext,
        header_hash=parsed.header_hash.hex(),
        sealed_sha256=hashlib.sha256(blob).hexdigest(),
    )


def disclose_content_key(blob: bytes, *, private_key: X25519PrivateKey, device_key: DeviceKeyLookup) -> bytes:
    """The content key of one verified segment, to hand to a third party (a court) with the sealed segment.

    With it, and the device's public key alone, anyone can check that the decrypted video is exactly what the
    device signed: the key matches the signed ``key_commitment`` and decrypts the signed body. It opens this one
    segment and nothing else (every segment has its own random content key); the recipient key stays secret.
    """
    return _unwrap(_verified(blob, device_key), private_key)
