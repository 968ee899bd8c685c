"""Signed JSON documents: consent records, police requests and answers, audit log heads.

Wire form, one canonical JSON object::

    {"doc": {...}, "kid": "<key id of the signer>", "sig": "<base64 Ed25519 signature>"}

The signature covers ``DOC_CONTEXT`` followed by the canonical JSON of ``doc``. The context string keeps a
document signature from ever being valid as an envelope signature, or the other way round, when one key
signs both. :func:`verify_document` returns the document only after the signature checks out; the document
itself should name its own kind (a ``"type"`` field) so that one kind cannot be replayed as another.

Each signed document has exactly one accepted encoding, the one :func:`sign_document` writes: the received bytes
must equal the canonical JSON of what they parse to. Otherwise one signature would stand behind many different
byte strings (re-spaced, keys reordered), and a receiver that deduplicates, stores or forwards the exact bytes
could be handed a "new" copy of an old document.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_agent.config.keys import ed25519_public_bytes, key_id
from edge_agent.core.canon import canonical_json, strict_loads
from edge_agent.errors import OpenError, SealError

__all__ = ["DOC_CONTEXT", "MAX_DOCUMENT_LEN", "canonical_json", "document_type", "sign_document", "verify_document"]

DOC_CONTEXT = b"edge-agent signed document v1\x00"
MAX_DOCUMENT_LEN = 1024 * 1024
SIG_LEN = 64


def sign_document(doc: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Sign ``doc`` (JSON-able, string keys) and return the wire bytes. Raises :class:`SealError` on bad input."""
    if not isinstance(doc, Mapping):
        raise SealError("a signed document must be a JSON object")
    body = dict(doc)
    signature = key.sign(DOC_CONTEXT + canonical_json(body))
    wire = {
        "doc": body,
        "kid": key_id(ed25519_public_bytes(key.public_key())),
        "sig": base64.b64encode(signature).decode("ascii"),
    }
    data = canonical_json(wire)
    if len(data) > MAX_DOCUMENT_LEN:
        raise SealError(f"signed document is {len(data)} bytes, over the {MAX_DOCUMENT_LEN}-byte limit")
    return data


def document_type(data: bytes) -> str | None:
    """The ``type`` a signed document claims, before anything is verified (to route it to the right check); None
    for anything that is not a signed document's wire form."""
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_DOCUMENT_LEN:
        return None
    try:
        wire = strict_loads(bytes(data))
    except OpenError:
        return None
    doc = wire.get("doc") if isinstance(wire, dict) else None
    kind = doc.get("type") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) else None


def verify_document(data: bytes, key: Ed25519PublicKey) -> dict[str, Any]:
    """Check the signature of a signed document with ``key`` and return the document.

    Raises :class:`OpenError` (and nothing else) for junk, a wrong key, a bad signature, any tampering, or bytes
    that are not exactly the canonical wire form (other whitespace, key order or escapes).
    """
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_DOCUMENT_LEN:
        raise OpenError()
    wire = strict_loads(bytes(data))
    if not isinstance(wire, dict) or set(wire) != {"doc", "kid", "sig"}:
        raise OpenError()
    doc, kid, sig = wire["doc"], wire["kid"], wire["sig"]
    if not isinstance(doc, dict) or not isinstance(sig, str) or kid != key_id(ed25519_public_bytes(key)):
        raise OpenError()
    try:
        signature = base64.b64decode(sig, validate=True)
        # base64 leaves slack in the padding bits: only the canonical spelling is accepted.
        if len(signature) != SIG_LEN or base64.b64encode(signature).decode("ascii") != sig:
            raise OpenError()
        # Checked inside the try: re-encoding raises for strings UTF-8 cannot carry (a lone surrogate escape).
        if canonical_json(wire) != data:
            raise OpenError()
        key.verify(signature, DOC_CONTEXT + canonical_json(doc))
    except (binascii.Error, ValueError, InvalidSignature, SealError):
        raise OpenError() from None
    return doc
