"""The seal stage: envelopes for video segments (HPKE + ChaCha20-Poly1305 + Ed25519) and signed documents.

``docs/envelope.md`` specifies the byte format. Every failure to open or verify raises the one opaque
:class:`edge_agent.errors.OpenError`.
"""

from edge_agent.core.canon import canonical_json
from edge_agent.seal.envelope import (
    HEAD_MAX,
    OpenedSegment,
    Recipient,
    SealedSegment,
    disclose_content_key,
    open_segment,
    peek_device_id,
    peek_head,
    seal_segment,
    verify_segment,
)
from edge_agent.seal.header import EnvelopeHeader, RecipientEntry
from edge_agent.seal.signed import sign_document, verify_document

__all__ = [
    "HEAD_MAX",
    "EnvelopeHeader",
    "OpenedSegment",
    "Recipient",
    "RecipientEntry",
    "SealedSegment",
    "canonical_json",
    "disclose_content_key",
    "open_segment",
    "peek_device_id",
    "peek_head",
    "seal_segment",
    "sign_document",
    "verify_document",
    "verify_segment",
]
