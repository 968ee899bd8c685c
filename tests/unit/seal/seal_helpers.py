"""Shared helpers of the seal tests: keys, segments, and taking blobs apart and re-signing them."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from edge_agent.seal import Recipient, SealedSegment
from edge_agent.seal.envelope import build_envelope, seal_segment
from edge_agent.segment.model import Segment, SegmentMeta

DEVICE_ID = "doorbell-01"
PREFIX = struct.Struct(">8sHIQ")
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)


@dataclass(frozen=True)
class Keys:
    device: Ed25519PrivateKey
    center: X25519PrivateKey
    archive: X25519PrivateKey
    stranger: X25519PrivateKey

    @classmethod
    def generate(cls) -> Keys:
        return cls(
            Ed25519PrivateKey.generate(),
            X25519PrivateKey.generate(),
            X25519PrivateKey.generate(),
            X25519PrivateKey.generate(),
        )

    def lookup(self, device_id: str) -> Ed25519PublicKey | None:
        return self.device.public_key() if device_id == DEVICE_ID else None

    @property
    def recipients(self) -> list[Recipient]:
        return [Recipient(self.center.public_key()), Recipient(self.archive.public_key())]


def make_segment(data: bytes, seq: int = 0, device_id: str = DEVICE_ID) -> Segment:
    meta = SegmentMeta(
        device_id=device_id,
        seq=seq,
        start=1767225600.0 + 2 * seq,
        end=1767225602.0 + 2 * seq,
        frame_count=50,
        width=1280,
        height=720,
        fps=25.0,
        content_type="video/mp2t",
        profile_hash="ab" * 32,
    )
    return Segment(meta=meta, data=data)


def payload(size: int) -> bytes:
    """Distinct bytes at every offset, so a reordered or shifted chunk could never decrypt to the same text."""
    return bytes((i * 31 + i // 256) % 256 for i in range(size))


SealFn = Callable[..., SealedSegment]


def make_sealer(keys: Keys) -> SealFn:
    """Seal with a random content key and real HPKE; ``chunk_size`` goes through the deterministic core."""

    def _seal(data: bytes, *, seq: int = 0, prev_hash: str = "", chunk_size: int | None = None) -> SealedSegment:
        segment = make_segment(data, seq)
        if chunk_size is None:
            return seal_segment(
                segment, consent_id="consent-1", prev_hash=prev_hash, signer=keys.device, recipients=keys.recipients
            )
        return build_envelope(
            segment,
            consent_id="consent-1",
            prev_hash=prev_hash,
            signer=keys.device,
            recipients=keys.recipients,
            content_key=os.urandom(32),
            created_at=1767225610.0,
            wrap=SUITE.encrypt,
            chunk_size=chunk_size,
        )

    return _seal


def split(blob: bytes) -> tuple[bytes, bytes, bytes]:
    """(header, body, signature) of a blob, by its own framing."""
    _, _, header_len, body_len = PREFIX.unpack_from(blob)
    header_end = PREFIX.size + header_len
    return blob[PREFIX.size : header_end], blob[header_end : header_end + body_len], blob[header_end + body_len :]


def resign(header: bytes, body: bytes, signer: Ed25519PrivateKey) -> bytes:
    """Reassemble and sign with a real key: what a device with a bug (or a thief of its key) could send."""
    signed = PREFIX.pack(b"EDGESEAL", 1, len(header), len(body)) + header + body
    return signed + signer.sign(signed)
